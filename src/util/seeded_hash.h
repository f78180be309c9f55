// Hashing for hash tables keyed by what clients send (trace and span IDs, posting keys built from
// attribute keys and values, ...): XXH3 seeded with a random value per process, read from the OS
// at first use. With a fixed hash (std::hash, or XXH3 with a known seed) a client can compute in
// advance many keys that share one bucket and make every insert and lookup walk all of them, with
// the head's lock held; with a seed it does not know, it cannot tell which keys collide.
#pragma once

#ifndef XXH_STATIC_LINKING_ONLY
#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t by value, so SeededHasher allocates nothing
#endif
#include <xxhash.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tb {

// The process's seed: random (getrandom), fixed for the life of the process.
uint64_t ProcessHashSeed();

inline uint64_t SeededHash(const void* data, size_t size) {
  return XXH3_64bits_withSeed(data, size, ProcessHashSeed());
}

// Hasher for std::unordered_{map,set} of strings (transparent: looks up by string_view too) or of
// fixed-size byte arrays such as model::TraceId and model::SpanId.
struct SeededKeyHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return static_cast<size_t>(SeededHash(s.data(), s.size())); }
  template <size_t N>
  size_t operator()(const std::array<uint8_t, N>& bytes) const {
    return static_cast<size_t>(SeededHash(bytes.data(), N));
  }
};

// Seeded hashing of a key made of several parts, in one pass without joining them.
class SeededHasher {
 public:
  SeededHasher() { XXH3_64bits_reset_withSeed(&state_, ProcessHashSeed()); }
  // Each part is preceded by its length, so ("ab", "c") and ("a", "bc") differ.
  SeededHasher& Add(std::string_view part) {
    const uint64_t n = part.size();
    XXH3_64bits_update(&state_, &n, sizeof n);
    XXH3_64bits_update(&state_, part.data(), part.size());
    return *this;
  }
  SeededHasher& Add(uint64_t v) {
    XXH3_64bits_update(&state_, &v, sizeof v);
    return *this;
  }
  uint64_t Digest() const { return XXH3_64bits_digest(&state_); }

 private:
  XXH3_state_t state_;
};

}  // namespace tb
