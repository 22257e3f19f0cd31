// Statement texts known to leave no session state behind: nothing in them
// pins their client, and nothing is a SET or reset to carry to other
// servers. Drivers send the same texts again and again (an unnamed Parse for
// every execution), and a text found here is not tokenized again.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_set>

#include "core/text_hash.hpp"

namespace pggate::session {

class InertTexts {
public:
    static constexpr std::size_t kCapacity = 1024;
    static constexpr std::size_t kMaxTextBytes = 2048;

    bool contains(std::string_view sql) const { return texts_.find(sql) != texts_.end(); }
    // Remembers `sql`; a full set starts over, so one worker's set stays
    // bounded however many distinct texts its clients send.
    void add(std::string_view sql);

    std::size_t size() const { return texts_.size(); }

private:
    std::unordered_set<std::string, TextHash, std::equal_to<>> texts_;
};

}  // namespace pggate::session
