// The bounded set of inert statement texts.
#include "session/inert_texts.hpp"

namespace pggate::session {

void InertTexts::add(std::string_view sql) {
    if (sql.size() > kMaxTextBytes) return;
    if (texts_.size() >= kCapacity) texts_.clear();
    texts_.emplace(sql);
}

}  // namespace pggate::session
