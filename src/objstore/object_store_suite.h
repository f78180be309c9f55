// The generic conformance suite that every ObjectStore implementation passes (in the spirit of
// Arrow's GenericFileSystemTest): put/get/overwrite, ranged gets, head, create-only (including a
// 16-thread race where SupportsCreateOnly()), list order/prefix/pagination, batch delete, unusual
// key characters, a large object, and concurrent traffic.
//
// The TEST_P bodies live in object_store_suite.cc, built as the OBJECT library tb_objstore_suite:
// link it (directly, so its object file becomes part of the binary) into each test binary that
// instantiates the suite, and instantiate it there:
//
//   #include "objstore/object_store_suite.h"
//
//   INSTANTIATE_TEST_SUITE_P(S3, ObjectStoreConformance,
//                            ::testing::Values(StoreFactory{"S3", [] { return MakeEmptyS3Store(); }}),
//                            StoreFactoryName());
//
// A factory returns a new, empty store for one test, or nullptr when the backend is not available
// here (e.g. no S3 endpoint configured): the test is then skipped. A factory may record a failure
// with ADD_FAILURE() before returning nullptr (e.g. under CI=true), which makes the test fail.
// The store is released at the end of the test; a shared_ptr with a custom deleter can clean up
// (remove a temp dir, delete a bucket prefix).
//
// Keys used: the portable ones of ValidateKey, including spaces, '+', '=', '~', '%', '?', '#',
// UTF-8, '\' (where the factory allows it); never a key that another key continues past a '/' ("a" with "a/b"), which
// LocalStore cannot hold.
//
// API stability: StoreFactory may gain trailing members with defaults, so aggregate
// initialization `StoreFactory{name, make}` keeps compiling.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "objstore/object_store.h"

namespace tb::objstore {

struct StoreFactory {
  // Names the instantiation in test names ("Stores/ObjectStoreConformance.PutGetRoundTrip/Local"):
  // letters, digits and '_' only.
  std::string name;
  // A new, empty store for one test; nullptr skips the test (see above).
  std::function<std::shared_ptr<ObjectStore>()> make;
  // Whether keys may hold '\'. Azure Blob Storage turns it into '/' in blob names, so the Azure
  // store refuses such keys (INVALID_ARGUMENT), and the suite checks that refusal instead.
  bool backslash_keys = true;
};

// Test-name generator for INSTANTIATE_TEST_SUITE_P: uses StoreFactory::name.
struct StoreFactoryName {
  std::string operator()(const ::testing::TestParamInfo<StoreFactory>& info) const { return info.param.name; }
};

// So that gtest prints a factory by name rather than as bytes.
inline void PrintTo(const StoreFactory& factory, std::ostream* os) { *os << factory.name; }

// Races one create-only writer per store at once, writer i putting data(i) under `key` through
// stores[i] (the same store may be given several times): expects exactly one winner, ALREADY_EXISTS
// for every other writer, and the winner's bytes stored.
void ExpectOneCreateOnlyWinner(const std::vector<std::shared_ptr<ObjectStore>>& stores, const std::string& key,
                               const std::function<std::string(int)>& data);

// Expects `key` to hold `data`, read whole and in 100,000-byte ranges from offsets across it
// (the start, either side of 512 KiB and 2 MiB, the last byte): across a large object's parts.
void ExpectReadsBack(ObjectStore& store, const std::string& key, const std::string& data);

// The test environment of the cloud stores' emulators: a variable's value ("" when unset), and
// whether this is CI (CI set to anything but "", "false", "0"), where a missing emulator fails.
std::string TestEnv(const char* name);
bool InCi();

// A cloud store's emulator as its tests see it (scripts/*-up.sh start them; scripts/test.sh
// exports their variables): `variable` names it; without it the tests skip, or fail under CI
// unless `skipped_variable` says why scripts/test.sh could not start one.
struct Emulator {
  const char* variable;          // "STORAGE_EMULATOR_HOST"
  const char* skipped_variable;  // "TB_GCS_EMULATOR_SKIPPED"
  const char* what;              // "GCS emulator"
  const char* how_to;            // "Start one with ..."

  bool Available() const { return !TestEnv(variable).empty(); }
  bool MissingFails() const { return InCi() && TestEnv(skipped_variable).empty(); }
  std::string Missing() const;  // the reason given when skipping or failing
  // A store for one conformance test from `open`, or nullptr after skipping the test (no emulator)
  // or failing it (no emulator under CI, or `open` failed).
  std::shared_ptr<ObjectStore> StoreForSuite(const std::function<Result<std::shared_ptr<ObjectStore>>()>& open) const;
};

// Skips (or under CI fails) the current test when the emulator is not there.
#define TB_REQUIRE_EMULATOR(emulator)                                \
  do {                                                               \
    if (!(emulator).Available()) {                                   \
      if ((emulator).MissingFails()) FAIL() << (emulator).Missing(); \
      GTEST_SKIP() << (emulator).Missing();                          \
    }                                                                \
  } while (0)

// "<tag>-<pid>-<ms>-<n>": a bucket or container name no other test (or process) uses.
std::string UniqueTestName(std::string_view tag);
// `n` pseudo-random bytes from `seed`.
std::string RandomBytes(size_t n, uint64_t seed);

class ObjectStoreConformance : public ::testing::TestWithParam<StoreFactory> {
 protected:
  // Calls the factory; skips the test when it returns nullptr.
  void SetUp() override;
  void TearDown() override;

  ObjectStore& store() { return *store_; }
  std::shared_ptr<ObjectStore> store_;
};

}  // namespace tb::objstore
