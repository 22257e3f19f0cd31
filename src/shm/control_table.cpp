// Finding and claiming control entries by database name.
#include "shm/control_table.hpp"

#include <algorithm>
#include <cstring>

namespace pggate::shm {

std::optional<std::uint32_t> ControlTable::find(std::string_view database, bool create) {
    if (database.size() >= kControlNameSize) return std::nullopt;
    auto search = [&]() -> std::optional<std::uint32_t> {
        for (std::uint32_t i = 0; i < kMaxControls; ++i) {
            const DatabaseControl& e = entries[i];
            // As a string_view: "" (every database) may come with no data pointer at all.
            if (e.state.load(std::memory_order_acquire) == 2 && e.name[database.size()] == '\0' &&
                std::string_view(e.name, database.size()) == database)
                return i;
        }
        return std::nullopt;
    };
    if (auto found = search(); found || !create) return found;
    // Entries are made under a lock (console commands are rare), so two
    // workers naming a new database at once agree on one entry.
    std::uint32_t unlocked = 0;
    while (!creating.compare_exchange_weak(unlocked, 1, std::memory_order_acquire)) unlocked = 0;
    std::optional<std::uint32_t> made = search();
    for (std::uint32_t i = 0; !made && i < kMaxControls; ++i) {
        DatabaseControl& e = entries[i];
        if (e.state.load(std::memory_order_relaxed) != 0) continue;
        std::memset(e.name, 0, kControlNameSize);
        database.copy(e.name, database.size());
        e.state.store(2, std::memory_order_release);
        made = i;
    }
    creating.store(0, std::memory_order_release);
    return made;
}

bool ControlTable::disabled(std::string_view database) {
    for (std::string_view name : {std::string_view{}, database})
        if (auto i = find(name, false); i && entries[*i].disabled.load(std::memory_order_relaxed) != 0) return true;
    return false;
}

bool ControlTable::paused(std::string_view database) {
    for (std::string_view name : {std::string_view{}, database})
        if (auto i = find(name, false); i && entries[*i].paused.load(std::memory_order_relaxed) != 0) return true;
    return false;
}

std::int64_t ControlTable::reconnect_since(std::string_view database) {
    std::int64_t since = 0;
    for (std::string_view name : {std::string_view{}, database})
        if (auto i = find(name, false)) since = std::max(since, entries[*i].reconnect_ns.load(std::memory_order_relaxed));
    return since;
}

std::int64_t ControlTable::kill_since(std::string_view database) {
    std::int64_t since = 0;
    for (std::string_view name : {std::string_view{}, database})
        if (auto i = find(name, false)) since = std::max(since, entries[*i].kill_ns.load(std::memory_order_relaxed));
    return since;
}

}  // namespace pggate::shm
