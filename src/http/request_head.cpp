#include "http/request_head.hpp"

namespace analytics::http {

namespace {

char lower(char c) noexcept
{
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) noexcept
{
    if (s.size() < prefix.size()) {
        return false;
    }
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        if (lower(s[i]) != prefix[i]) {
            return false;
        }
    }
    return true;
}

}  // namespace

bool chunked_only(std::string_view value) noexcept
{
    const auto first = value.find_first_not_of(" \t");
    if (first == std::string_view::npos) {
        return false;
    }
    const auto last = value.find_last_not_of(" \t");
    const auto coding = value.substr(first, last - first + 1);
    return coding.size() == 7 && starts_with_nocase(coding, "chunked");
}

std::string_view absolute_to_origin_form(std::string_view target, std::string& storage)
{
    std::size_t authority = 0;
    if (starts_with_nocase(target, "http://")) {
        authority = 7;
    } else if (starts_with_nocase(target, "https://")) {
        authority = 8;
    } else {
        return target;  // the asterisk or authority form: no route has it
    }
    const auto path = target.find_first_of("/?#", authority);
    if (path == std::string_view::npos || target[path] == '#') {
        return "/";
    }
    if (target[path] == '/') {
        return target.substr(path);
    }
    storage.assign("/");
    storage.append(target.substr(path));
    return storage;
}

}  // namespace analytics::http
