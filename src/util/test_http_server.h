// Starting a cpp-httplib server for a test. Header only, and included by tests only.
#pragma once

#include <httplib.h>

#include <thread>

namespace tb::test_sync {

// Serves `server`, already bound to its port, on a new thread, and returns that thread once the
// server is accepting. The wait matters: httplib 0.11's stop() does nothing until listening has
// begun, so a test that stopped its server sooner (one that never sent it a request) would leave
// the thread listening and wait forever in join().
inline std::thread ServeInBackground(httplib::Server& server) {
  std::thread serving([&server] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::yield();
  return serving;
}

}  // namespace tb::test_sync
