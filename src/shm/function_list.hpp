// The functions the health process learned are not VOLATILE (from pg_proc),
// published whole in shared memory for every worker's classifier: names
// separated by newlines, under a sequence lock (odd while being written).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pggate::shm {

struct FunctionList {
    static constexpr std::size_t kCapacity = 64 * 1024;  // bytes of names

    std::atomic<std::uint32_t> seq;
    std::atomic<std::uint32_t> length;
    std::atomic<std::uint64_t> words[kCapacity / 8];

    // The health process only. The text must fit kCapacity.
    void publish(std::string_view names);
    // Changes with every publish (even: no write in progress).
    std::uint32_t version() const { return seq.load(std::memory_order_acquire); }
    // The names and the version they are of; retries while a write is in progress.
    std::string read(std::uint32_t& version) const;
};

}  // namespace pggate::shm
