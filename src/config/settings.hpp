// The [pggate] settings as SHOW CONFIG lists them: the value running, its
// default, whether a reload (or SET) changes it or only a restart does, and
// runtime changes written as configuration text.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace pggate::config {

struct SettingRow {
    std::string key;            // without the section: "default_pool_size"
    std::string value;          // as the file writes it, else the default
    std::string default_value;  // in the file's syntax; empty where none can be written
    bool needs_restart;
    std::optional<std::string> pending;  // a value the file gives that waits for a restart
};

// Every [pggate] key, in the loader's order.
std::vector<SettingRow> setting_rows(const Config& config);

// The default of [pggate] key `key` in the file's syntax ("" for auth_type,
// whose default depends on other keys); nullopt for an unknown key.
std::optional<std::string_view> default_value(std::string_view key);

// Whether [pggate] key `key` keeps its running value until a restart.
bool needs_restart(std::string_view key);

// Whether `key` names a [pggate] setting.
bool is_setting(std::string_view key);

// Configuration text that is `text` with [pggate] `key` set to `value`
// (later lines win), as a runtime SET applies it. The value reads back as
// given only if is_writable_value(value).
std::string with_setting(std::string_view text, std::string_view key, std::string_view value);

// Whether a line of pggate.ini can hold `value` so that it reads back the
// same: one line without NUL, no blank at either end (the parser trims
// them) and none before a ';' (the parser takes the rest for a comment).
bool is_writable_value(std::string_view value);

}  // namespace pggate::config
