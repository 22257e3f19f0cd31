// Sequence-locked publishing and reading of the learned function names.
#include "shm/function_list.hpp"

#include <cstring>

namespace pggate::shm {

void FunctionList::publish(std::string_view names) {
    const std::size_t n = std::min(names.size(), kCapacity);
    const std::uint32_t start = seq.load(std::memory_order_relaxed);
    seq.store(start + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    length.store(static_cast<std::uint32_t>(n), std::memory_order_relaxed);
    for (std::size_t i = 0; i * 8 < n; ++i) {
        std::uint64_t w = 0;
        std::memcpy(&w, names.data() + i * 8, std::min<std::size_t>(8, n - i * 8));
        words[i].store(w, std::memory_order_relaxed);
    }
    seq.store(start + 2, std::memory_order_release);
}

std::string FunctionList::read(std::uint32_t& version) const {
    std::string text;
    while (true) {
        const std::uint32_t before = seq.load(std::memory_order_acquire);
        if (before & 1U) continue;
        const std::size_t n = std::min<std::size_t>(length.load(std::memory_order_relaxed), kCapacity);
        text.resize((n + 7) / 8 * 8);
        for (std::size_t i = 0; i * 8 < n; ++i) {
            const std::uint64_t w = words[i].load(std::memory_order_relaxed);
            std::memcpy(text.data() + i * 8, &w, 8);
        }
        std::atomic_thread_fence(std::memory_order_acquire);
        if (seq.load(std::memory_order_relaxed) == before) {
            text.resize(n);
            version = before;
            return text;
        }
    }
}

}  // namespace pggate::shm
