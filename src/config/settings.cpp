#include "config/settings.hpp"

#include "common/json_escape.hpp"

#include <boost/algorithm/string/classification.hpp>
#include <boost/algorithm/string/trim.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <thread>
#include <type_traits>
#include <utility>

namespace analytics::config {

namespace {

// ---------------------------------------------------------------------------------------------
// Small text helpers.

constexpr std::string_view k_whitespace = " \t\r\n\v\f";

// The characters std::isspace knows in the C locale, named so the answer does not depend on the
// process locale.
std::string_view trim(std::string_view s)
{
    return boost::algorithm::trim_copy_if(s, boost::algorithm::is_any_of(k_whitespace));
}

bool all_digits(std::string_view s)
{
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The whole string must be decimal digits: no sign, no inner spaces, no `12abc`, no `0x10`.
std::optional<std::int64_t> parse_integer(std::string_view s)
{
    if (!all_digits(s)) {
        return std::nullopt;
    }
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc{} || end != s.data() + s.size()) {
        return std::nullopt;
    }
    return value;
}

// `12`, `0.5`, `.5` or `5.`: plain decimal notation, no sign and no exponent, so the value a
// person reads is the value we use.
bool is_decimal(std::string_view s)
{
    const auto dot = s.find('.');
    if (dot == std::string_view::npos) {
        return all_digits(s);
    }
    const auto whole = s.substr(0, dot);
    const auto fraction = s.substr(dot + 1);
    return (!whole.empty() || !fraction.empty()) && (whole.empty() || all_digits(whole)) &&
           (fraction.empty() || all_digits(fraction));
}

// Seconds in decimal notation to whole milliseconds; digits past the third decimal are dropped.
std::optional<std::int64_t> parse_seconds_as_millis(std::string_view s)
{
    if (!is_decimal(s)) {
        return std::nullopt;
    }
    const auto dot = s.find('.');
    const auto whole = s.substr(0, dot);
    const auto fraction = dot == std::string_view::npos ? std::string_view{} : s.substr(dot + 1);
    std::int64_t millis = 0;
    if (!whole.empty()) {
        const auto seconds = parse_integer(whole);
        // Twelve digits of seconds is far beyond any bound we accept, and keeps `* 1000` safe.
        if (!seconds || whole.size() > 12) {
            return std::nullopt;
        }
        millis = *seconds * 1000;
    }
    for (std::size_t i = 0; i < 3; ++i) {
        const std::int64_t digit = i < fraction.size() ? fraction[i] - '0' : 0;
        millis += digit * (i == 0 ? 100 : i == 1 ? 10 : 1);
    }
    return millis;
}

// `30000ms` prints as `30`, `500ms` as `0.5`: the syntax the variable is written in.
std::string millis_as_seconds(std::int64_t millis)
{
    std::string out = std::to_string(millis / 1000);
    std::int64_t rest = millis % 1000;
    if (rest != 0) {
        std::string fraction = std::to_string(rest + 1000).substr(1);
        while (fraction.back() == '0') {
            fraction.pop_back();
        }
        out += '.';
        out += fraction;
    }
    return out;
}

std::string quote_json(std::string_view s)
{
    // JSON escaping keeps a value with control characters or quotes on one readable line.
    std::string out = "\"";
    common::append_json_escaped(out, s);
    out += '"';
    return out;
}

// ---------------------------------------------------------------------------------------------
// Where each variable lands in `settings`.

template <auto Section, auto Member>
struct field {
    static auto& ref(settings& s) { return s.*Section.*Member; }
    static const auto& ref(const settings& s) { return s.*Section.*Member; }
};

struct admin_token_field {
    static std::string& ref(settings& s) { return s.admin_token; }
    static const std::string& ref(const settings& s) { return s.admin_token; }
};

struct instance_id_field {
    static std::string& ref(settings& s) { return s.instance_id; }
    static const std::string& ref(const settings& s) { return s.instance_id; }
};

template <class T>
inline constexpr bool is_duration = false;
template <class Rep, class Period>
inline constexpr bool is_duration<std::chrono::duration<Rep, Period>> = true;

// ---------------------------------------------------------------------------------------------
// Kinds of value. Each knows how to parse text into its field, how to print the field back in
// the variable's own syntax (for --help defaults and the start-up log), and what it expects
// (for error messages).

enum class json_kind { number, boolean, string, secret };

// An upper bound no one will reach; error messages then say `>= 1` rather than a huge range.
constexpr std::int64_t k_unbounded = std::numeric_limits<std::int32_t>::max();

enum class noun { integer, port };

template <class Field, std::int64_t Lo, std::int64_t Hi, noun Noun = noun::integer>
struct integer_kind {
    static constexpr json_kind json = json_kind::number;

    static bool parse(settings& s, std::string_view text)
    {
        const auto value = parse_integer(text);
        if (!value || *value < Lo || *value > Hi) {
            return false;
        }
        auto& target = Field::ref(s);
        using target_type = std::remove_reference_t<decltype(target)>;
        if constexpr (is_duration<target_type>) {
            target = target_type{*value};
        } else {
            target = static_cast<target_type>(*value);
        }
        return true;
    }

    static std::string show(const settings& s)
    {
        const auto& value = Field::ref(s);
        if constexpr (is_duration<std::remove_cvref_t<decltype(value)>>) {
            return std::to_string(value.count());
        } else {
            return std::to_string(value);
        }
    }

    static std::string expected()
    {
        std::string out = Noun == noun::port ? "a port " : "an integer ";
        if (Hi == k_unbounded) {
            return out + ">= " + std::to_string(Lo);
        }
        return out + std::to_string(Lo) + ".." + std::to_string(Hi);
    }
};

// Seconds with decimals (`0.5`) stored as milliseconds.
template <class Field, std::int64_t MaxSeconds>
struct seconds_kind {
    static constexpr json_kind json = json_kind::number;

    static bool parse(settings& s, std::string_view text)
    {
        const auto millis = parse_seconds_as_millis(text);
        if (!millis || *millis < 1 || *millis > MaxSeconds * 1000) {
            return false;
        }
        Field::ref(s) = std::chrono::milliseconds{*millis};
        return true;
    }

    static std::string show(const settings& s) { return millis_as_seconds(Field::ref(s).count()); }

    static std::string expected()
    {
        return "a number of seconds 0.001.." + std::to_string(MaxSeconds);
    }
};

// A probability.
template <class Field>
struct ratio_kind {
    static constexpr json_kind json = json_kind::number;

    static bool parse(settings& s, std::string_view text)
    {
        if (!is_decimal(text)) {
            return false;
        }
        double value = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec != std::errc{} || end != text.data() + text.size() || !(value >= 0.0) ||
            !(value <= 1.0)) {
            return false;
        }
        Field::ref(s) = value;
        return true;
    }

    static std::string show(const settings& s)
    {
        // Shortest text that reads back as the same double: `0.1`, not `0.10000000000000001`.
        std::array<char, 32> buffer{};
        const auto [end, ec] =
            std::to_chars(buffer.data(), buffer.data() + buffer.size(), Field::ref(s));
        return ec == std::errc{} ? std::string(buffer.data(), end) : std::string("0");
    }

    static std::string expected() { return "a number 0..1"; }
};

template <class Field>
struct boolean_kind {
    static constexpr json_kind json = json_kind::boolean;

    static bool parse(settings& s, std::string_view text)
    {
        for (const std::string_view yes : {"true", "1", "yes", "on"}) {
            if (boost::beast::iequals(text, yes)) {
                Field::ref(s) = true;
                return true;
            }
        }
        for (const std::string_view no : {"false", "0", "no", "off"}) {
            if (boost::beast::iequals(text, no)) {
                Field::ref(s) = false;
                return true;
            }
        }
        return false;
    }

    static std::string show(const settings& s) { return Field::ref(s) ? "true" : "false"; }

    static std::string expected() { return "a boolean (true/false, 1/0, yes/no, on/off)"; }
};

template <class E>
struct choice {
    std::string_view text;
    E value;
};

// The first spelling of each value is the one printed back.
constexpr std::array<choice<log_level>, 5> k_log_levels{{
    {"DEBUG", log_level::debug},
    {"INFO", log_level::info},
    {"WARNING", log_level::warning},
    {"WARN", log_level::warning},
    {"ERROR", log_level::error},
}};
constexpr std::array<choice<log_format>, 2> k_log_formats{{
    {"json", log_format::json},
    {"text", log_format::text},
}};
constexpr std::array<choice<failure_mode>, 2> k_failure_modes{{
    {"local", failure_mode::local},
    {"open", failure_mode::open},
}};
constexpr std::array<choice<breaker_scope>, 2> k_breaker_scopes{{
    {"instance", breaker_scope::instance},
    {"cluster", breaker_scope::cluster},
}};

// One of a fixed set of words, in any case.
template <class Field, const auto& Choices>
struct choice_kind {
    static constexpr json_kind json = json_kind::string;

    static bool parse(settings& s, std::string_view text)
    {
        for (const auto& c : Choices) {
            if (boost::beast::iequals(text, c.text)) {
                Field::ref(s) = c.value;
                return true;
            }
        }
        return false;
    }

    static std::string show(const settings& s)
    {
        for (const auto& c : Choices) {
            if (c.value == Field::ref(s)) {
                return std::string(c.text);
            }
        }
        return {};
    }

    static std::string expected()
    {
        std::string out = "one of ";
        for (std::size_t i = 0; i < Choices.size(); ++i) {
            out += i == 0 ? "" : ", ";
            out += Choices[i].text;
        }
        return out;
    }
};

// A host name or an address literal. Names are only checked for plausible characters here;
// whether they resolve is for the component that connects or binds.
bool is_host(std::string_view text)
{
    if (text.size() > 253) {
        return false;
    }
    if (text.find(':') != std::string_view::npos) {
        boost::system::error_code ec;
        boost::asio::ip::make_address(text, ec);
        return !ec && text.find('%') == std::string_view::npos;
    }
    return std::all_of(text.begin(), text.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '-' || c == '_';
    });
}

// True when the last dot-separated label (ignoring one trailing dot) is all digits.
bool ends_in_a_number(std::string_view host)
{
    if (host.ends_with('.')) {
        host.remove_suffix(1);
    }
    const auto dot = host.rfind('.');
    return all_digits(dot == std::string_view::npos ? host : host.substr(dot + 1));
}

template <class Field>
struct host_kind {
    static constexpr json_kind json = json_kind::string;

    static bool parse(settings& s, std::string_view text)
    {
        if (!is_host(text)) {
            return false;
        } else if (ends_in_a_number(text)) {
            // A name whose last label is a number is an IPv4 address (as URL parsers read it),
            // and must be a valid one: the resolver would read `1.2.3` as 1.2.0.3 and look
            // `999.1.1.1` up in DNS.
            boost::system::error_code ec;
            boost::asio::ip::make_address_v4(text, ec);
            if (ec) {
                return false;
            }
        }
        Field::ref(s) = std::string(text);
        return true;
    }

    static std::string show(const settings& s) { return Field::ref(s); }

    static std::string expected() { return "a host name or IP address"; }
};

// `host:port,host:port`, an IPv6 address in brackets (`[::1]:7000`); spaces around items are
// ignored, empty items are not.
template <class Field>
struct node_list_kind {
    static constexpr json_kind json = json_kind::string;

    static bool parse(settings& s, std::string_view text)
    {
        std::vector<redis_node> nodes;
        for (;;) {
            const auto comma = text.find(',');
            const auto item = trim(text.substr(0, comma));
            const auto colon = item.rfind(':');
            if (colon == std::string_view::npos || nodes.size() >= 64) {
                return false;
            }
            auto host = item.substr(0, colon);
            if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
                host = host.substr(1, host.size() - 2);
                if (host.find(':') == std::string_view::npos) {
                    return false;
                }
            } else if (host.find(':') != std::string_view::npos) {
                return false;  // an IPv6 address needs its brackets
            }
            const auto port = parse_integer(item.substr(colon + 1));
            if (host.empty() || !is_host(host) || !port || *port < 1 || *port > 65535) {
                return false;
            }
            nodes.push_back({std::string(host), static_cast<std::uint16_t>(*port)});
            if (comma == std::string_view::npos) {
                break;
            }
            text.remove_prefix(comma + 1);
        }
        Field::ref(s) = std::move(nodes);
        return true;
    }

    static std::string show(const settings& s)
    {
        std::string out;
        for (const auto& n : Field::ref(s)) {
            out += out.empty() ? "" : ",";
            const bool v6 = n.host.find(':') != std::string::npos;
            out += v6 ? "[" + n.host + "]" : n.host;
            out += ":" + std::to_string(n.port);
        }
        return out;
    }

    static std::string expected() { return "a comma-separated list of host:port"; }
};

// A user name as Redis's ACL takes it: 1-256 printable ASCII characters, no spaces.
template <class Field>
struct username_kind {
    static constexpr json_kind json = json_kind::string;

    static bool parse(settings& s, std::string_view text)
    {
        if (text.empty() || text.size() > 256 ||
            !std::all_of(text.begin(), text.end(), [](char c) { return c > ' ' && c < 127; })) {
            return false;
        }
        Field::ref(s) = std::string(text);
        return true;
    }

    static std::string show(const settings& s) { return Field::ref(s); }

    static std::string expected() { return "1-256 printable ASCII characters without spaces"; }
};

// A name that goes into logs and JSON bodies as it is: 1-128 characters of [A-Za-z0-9._:-]
// (what a host name, a port and a container or pod name are made of).
template <class Field>
struct identifier_kind {
    static constexpr json_kind json = json_kind::string;

    static bool parse(settings& s, std::string_view text)
    {
        if (text.empty() || text.size() > 128 || !std::all_of(text.begin(), text.end(), [](char c) {
                return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '.' || c == '_' || c == ':' || c == '-';
            })) {
            return false;
        }
        Field::ref(s) = std::string(text);
        return true;
    }

    static std::string show(const settings& s) { return Field::ref(s); }

    static std::string expected() { return "1-128 characters of A-Z a-z 0-9 . _ : -"; }
};

// Taken verbatim (not trimmed) and never printed: only whether it is set.
template <class Field>
struct secret_kind {
    static constexpr json_kind json = json_kind::secret;

    static bool parse(settings& s, std::string_view text)
    {
        Field::ref(s) = std::string(text);
        return true;
    }

    static std::string show(const settings& s) { return Field::ref(s).empty() ? "unset" : "set"; }

    static std::string expected() { return "any text"; }
};

template <class Field>
struct cidr_list_kind {
    static constexpr json_kind json = json_kind::string;

    static bool parse(settings& s, std::string_view text)
    {
        auto list = parse_cidr_list(text);
        if (!list) {
            return false;
        }
        Field::ref(s) = std::move(*list);
        return true;
    }

    static std::string show(const settings& s)
    {
        std::string out;
        for (const auto& net : Field::ref(s)) {
            out += out.empty() ? "" : ",";
            out += to_string(net);
        }
        return out;
    }

    static std::string expected() { return "a comma-separated list of CIDR networks"; }
};

// `http[s]://host[:port][/path]`: the only forms the upstream client speaks (no credentials in
// the URL, no query or fragment to lose silently).
template <class Field>
struct http_url_kind {
    static constexpr json_kind json = json_kind::string;

    static bool parse(settings& s, std::string_view text)
    {
        const auto url = boost::urls::parse_uri(text);
        if (!url) {
            return false;
        }
        const auto& u = *url;
        const bool http_or_https = u.scheme_id() == boost::urls::scheme::http ||
                                   u.scheme_id() == boost::urls::scheme::https;
        if (!http_or_https || !u.has_authority() || u.has_userinfo() || u.encoded_host().empty() ||
            u.has_query() || u.has_fragment()) {
            return false;
        }
        if (u.has_port()) {
            const auto port = parse_integer(u.port());
            if (!port || *port < 1 || *port > 65535) {
                return false;
            }
        }
        Field::ref(s) = std::string(text);
        return true;
    }

    static std::string show(const settings& s) { return Field::ref(s); }

    static std::string expected() { return "a URL of the form http[s]://host[:port][/path]"; }
};

// A file name, taken as written. Whether the file exists and holds what it should is checked by
// the component that reads it, which can say what is wrong with its content.
template <class Field>
struct path_kind {
    static constexpr json_kind json = json_kind::string;

    static bool parse(settings& s, std::string_view text)
    {
        Field::ref(s) = std::string(text);
        return true;
    }

    static std::string show(const settings& s) { return Field::ref(s); }

    static std::string expected() { return "a file name"; }
};

// ---------------------------------------------------------------------------------------------
// The one table of variables: parsing, --help and the start-up log all read it, so a variable
// added here is handled everywhere and cannot be forgotten in one of them.

struct variable {
    std::string_view name;
    std::string_view meaning;
    json_kind json;
    bool (*parse)(settings&, std::string_view);
    std::string (*show)(const settings&);
    std::string (*expected)();
};

template <class Kind>
constexpr variable make(std::string_view name, std::string_view meaning)
{
    return {name, meaning, Kind::json, &Kind::parse, &Kind::show, &Kind::expected};
}

template <auto Member>
using http_field = field<&settings::http, Member>;
template <auto Member>
using redis_field = field<&settings::redis, Member>;
template <auto Member>
using cache_field = field<&settings::cache, Member>;
template <auto Member>
using ratelimit_field = field<&settings::ratelimit, Member>;
template <auto Member>
using breaker_field = field<&settings::breaker, Member>;
template <auto Member>
using upstream_field = field<&settings::upstream, Member>;
template <auto Member>
using metrics_field = field<&settings::metrics, Member>;
template <auto Member>
using log_field = field<&settings::log, Member>;

constexpr auto k_variables = std::to_array<variable>({
    make<host_kind<http_field<&http_options::host>>>("APP_HOST",
                                                     "address or host name to listen on"),
    make<integer_kind<http_field<&http_options::port>, 0, 65535, noun::port>>(
        "APP_PORT", "TCP port to listen on (0: any free port)"),
    make<integer_kind<http_field<&http_options::metrics_port>, 0, 65535, noun::port>>(
        "METRICS_PORT", "serve GET /metrics on this port only (0: on APP_PORT)"),
    make<integer_kind<http_field<&http_options::threads>, 0, 1024>>(
        "APP_THREADS", "worker threads (0: one per core)"),
    make<integer_kind<http_field<&http_options::max_connections>, 1, 1'000'000>>(
        "HTTP_MAX_CONNECTIONS", "open connections served at once"),
    make<integer_kind<http_field<&http_options::read_timeout>, 1, 3600>>(
        "HTTP_READ_TIMEOUT_SECONDS", "time allowed to read one request"),
    make<integer_kind<http_field<&http_options::idle_timeout>, 1, 86400>>(
        "HTTP_IDLE_TIMEOUT_SECONDS", "keep-alive connections idle this long close"),
    make<integer_kind<http_field<&http_options::shutdown_timeout>, 1, 3600>>(
        "HTTP_SHUTDOWN_TIMEOUT_SECONDS", "time in-flight requests get on SIGTERM"),
    make<integer_kind<http_field<&http_options::header_limit>, 1, 1024 * 1024>>(
        "HTTP_HEADER_LIMIT_BYTES", "largest request header block"),
    make<integer_kind<http_field<&http_options::body_limit>, 1, 1024 * 1024 * 1024>>(
        "HTTP_BODY_LIMIT_BYTES", "largest request body (larger: 413)"),
    make<integer_kind<http_field<&http_options::batch_body_limit>, 1, 64 * 1024 * 1024>>(
        "HTTP_BATCH_BODY_LIMIT_BYTES", "largest POST /api/metrics/batch body (larger: 413)"),
    make<cidr_list_kind<http_field<&http_options::trusted_proxies>>>(
        "TRUSTED_PROXIES", "peers whose X-Forwarded-For is believed"),
    make<integer_kind<http_field<&http_options::max_connections_per_client>, 1, 1'000'000>>(
        "HTTP_MAX_CONNECTIONS_PER_CLIENT", "open connections per client (more: 429)"),
    make<integer_kind<http_field<&http_options::max_buffered_body_bytes>, 1, k_unbounded>>(
        "HTTP_MAX_BUFFERED_BODY_BYTES", "bytes of unfinished request bodies held (more: 503)"),
    make<integer_kind<http_field<&http_options::shutdown_drain>, 0, 3600>>(
        "SHUTDOWN_DRAIN_SECONDS", "on SIGTERM, seconds of Connection: close before closing"),
    make<host_kind<redis_field<&redis_options::host>>>("REDIS_HOST", "Redis server host"),
    make<integer_kind<redis_field<&redis_options::port>, 1, 65535, noun::port>>(
        "REDIS_PORT", "Redis server port"),
    make<integer_kind<redis_field<&redis_options::db>, 0, 15>>("REDIS_DB", "Redis database number"),
    make<secret_kind<redis_field<&redis_options::password>>>("REDIS_PASSWORD",
                                                             "Redis AUTH password (never logged)"),
    make<integer_kind<redis_field<&redis_options::timeout>, 1, 600'000>>(
        "REDIS_TIMEOUT_MS", "deadline of each Redis command, ms"),
    make<node_list_kind<redis_field<&redis_options::cluster_nodes>>>(
        "REDIS_CLUSTER_NODES", "Redis Cluster seeds host:port,... (none: REDIS_HOST)"),
    make<username_kind<redis_field<&redis_options::username>>>(
        "REDIS_USERNAME", "Redis ACL user (AUTH user password; none: default)"),
    make<boolean_kind<redis_field<&redis_options::tls>>>("REDIS_TLS", "connect to Redis over TLS"),
    make<path_kind<redis_field<&redis_options::tls_ca_file>>>(
        "REDIS_TLS_CA_FILE", "PEM CA bundle for Redis TLS (none: system store)"),
    make<path_kind<redis_field<&redis_options::tls_cert_file>>>(
        "REDIS_TLS_CERT_FILE", "PEM client certificate chain (mutual TLS)"),
    make<path_kind<redis_field<&redis_options::tls_key_file>>>(
        "REDIS_TLS_KEY_FILE", "PEM private key of REDIS_TLS_CERT_FILE"),
    make<host_kind<redis_field<&redis_options::tls_server_name>>>(
        "REDIS_TLS_SERVER_NAME", "SNI and name verified (none: the Redis host)"),
    make<boolean_kind<redis_field<&redis_options::tls_verify>>>(
        "REDIS_TLS_VERIFY", "verify Redis's certificate (false: insecure)"),
    make<integer_kind<redis_field<&redis_options::wait_replicas>, 0, 64>>(
        "REDIS_WAIT_REPLICAS", "replicas that must hold an ingest before its 201 (WAIT)"),
    make<integer_kind<cache_field<&cache_options::ttl>, 1, k_unbounded>>(
        "CACHE_TTL_SECONDS", "lifetime of a cached summary"),
    make<integer_kind<cache_field<&cache_options::stale_ttl>, 1, k_unbounded>>(
        "CACHE_STALE_TTL_SECONDS", "stale copy kept for stale-if-error"),
    make<boolean_kind<ratelimit_field<&ratelimit_options::enabled>>>(
        "RATE_LIMIT_ENABLED", "rate-limit POST /api/metrics"),
    make<integer_kind<ratelimit_field<&ratelimit_options::requests>, 1, k_unbounded>>(
        "RATE_LIMIT_REQUESTS", "requests allowed per client per window"),
    make<integer_kind<ratelimit_field<&ratelimit_options::window>, 1, k_unbounded>>(
        "RATE_LIMIT_WINDOW_SECONDS", "rate-limit window"),
    make<choice_kind<ratelimit_field<&ratelimit_options::on_redis_failure>, k_failure_modes>>(
        "RATE_LIMIT_FAILURE_MODE", "no Redis: local (per-process limit) or open"),
    make<integer_kind<ratelimit_field<&ratelimit_options::ipv6_prefix>, 1, 128>>(
        "RATE_LIMIT_IPV6_PREFIX", "IPv6 clients are one client per network of this prefix"),
    make<integer_kind<breaker_field<&breaker_options::failure_threshold>, 1, k_unbounded>>(
        "CIRCUIT_BREAKER_FAILURE_THRESHOLD", "consecutive failures that open the breaker"),
    make<seconds_kind<breaker_field<&breaker_options::reset_timeout>, 86400>>(
        "CIRCUIT_BREAKER_RESET_TIMEOUT", "seconds the breaker stays open, e.g. 0.5"),
    make<choice_kind<breaker_field<&breaker_options::scope>, k_breaker_scopes>>(
        "CIRCUIT_BREAKER_SCOPE", "instance (own breaker) or cluster (one in Redis)"),
    make<ratio_kind<upstream_field<&upstream_options::failure_rate>>>(
        "EXTERNAL_SERVICE_FAILURE_RATE", "share of simulated upstream failures, 0..1"),
    make<seconds_kind<upstream_field<&upstream_options::timeout>, 3600>>(
        "EXTERNAL_SERVICE_TIMEOUT", "upstream call deadline in seconds, e.g. 1.5"),
    make<integer_kind<upstream_field<&upstream_options::latency>, 0, 600'000>>(
        "EXTERNAL_SERVICE_LATENCY_MS", "simulated upstream latency, milliseconds"),
    make<http_url_kind<upstream_field<&upstream_options::url>>>(
        "EXTERNAL_SERVICE_URL", "http[s]://host[:port][/path] (none: simulator)"),
    make<path_kind<upstream_field<&upstream_options::ca_file>>>(
        "EXTERNAL_SERVICE_CA_FILE", "PEM CA bundle for https (none: system store)"),
    make<integer_kind<metrics_field<&metrics_options::retention>, 1, k_unbounded>>(
        "METRICS_RETENTION_SECONDS", "age at which raw metric points are dropped"),
    make<integer_kind<metrics_field<&metrics_options::max_points_per_type>, 1, k_unbounded>>(
        "METRICS_MAX_POINTS_PER_TYPE", "raw metric points kept per type"),
    make<integer_kind<metrics_field<&metrics_options::max_future>, 0, 31 * 24 * 3600>>(
        "METRICS_MAX_FUTURE_SECONDS", "how far ahead of now a timestamp may lie"),
    make<integer_kind<metrics_field<&metrics_options::max_types>, 1, 10'000'000>>(
        "METRICS_MAX_TYPES", "distinct metric types stored at most"),
    make<integer_kind<metrics_field<&metrics_options::type_idle>, 1, k_unbounded>>(
        "METRICS_TYPE_IDLE_SECONDS", "a type with no metric for this long is forgotten"),
    make<choice_kind<log_field<&log_options::level>, k_log_levels>>(
        "LOG_LEVEL", "DEBUG, INFO, WARNING (or WARN), ERROR"),
    make<choice_kind<log_field<&log_options::format>, k_log_formats>>("LOG_FORMAT",
                                                                      "json or text, any case"),
    make<secret_kind<admin_token_field>>("ADMIN_TOKEN",
                                         "admin API bearer token (unset: answers 403)"),
    make<identifier_kind<instance_id_field>>("INSTANCE_ID",
                                             "name in breaker status (none: <hostname>:<port>)"),
});

// ---------------------------------------------------------------------------------------------
// .env files.

bool is_variable_name(std::string_view key)
{
    const auto word = [](char c, bool first) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
               (!first && c >= '0' && c <= '9');
    };
    if (key.empty() || !word(key.front(), true)) {
        return false;
    }
    return std::all_of(key.begin() + 1, key.end(), [&](char c) { return word(c, false); });
}

[[noreturn]] void fail_line(const std::string& path, std::size_t line, std::string_view what)
{
    throw config_error(path + ":" + std::to_string(line) + ": " + std::string(what));
}

// The value part of `KEY=VALUE`, following docker compose and python-dotenv: single quotes are
// literal, double quotes understand `\"`, `\\` and `\n`, and an unquoted value ends at a `#`
// that follows whitespace.
std::string dotenv_value(std::string_view raw, const std::string& path, std::size_t line)
{
    raw = trim(raw);
    if (raw.empty() || (raw.front() != '"' && raw.front() != '\'')) {
        for (std::size_t i = 1; i < raw.size(); ++i) {
            if (raw[i] == '#' && (raw[i - 1] == ' ' || raw[i - 1] == '\t')) {
                return std::string(trim(raw.substr(0, i)));
            }
        }
        return std::string(raw);
    }

    const char quote = raw.front();
    std::string value;
    std::size_t i = 1;
    for (; i < raw.size() && raw[i] != quote; ++i) {
        if (quote == '"' && raw[i] == '\\' && i + 1 < raw.size()) {
            const char next = raw[i + 1];
            if (next == '"' || next == '\\') {
                value += next;
                ++i;
                continue;
            }
            if (next == 'n') {
                value += '\n';
                ++i;
                continue;
            }
        }
        value += raw[i];
    }
    if (i == raw.size()) {
        fail_line(path, line, "unterminated quoted value");
    }
    const auto rest = trim(raw.substr(i + 1));
    if (!rest.empty() && rest.front() != '#') {
        fail_line(path, line, "unexpected text after the closing quote");
    }
    return value;
}

std::map<std::string, std::string, std::less<>> read_dotenv(const std::string& path)
{
    std::map<std::string, std::string, std::less<>> out;
    // The .env file is optional (the seed copies it from .env.example by hand); only one that
    // exists but cannot be read is an error.
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (status.type() == std::filesystem::file_type::not_found) {
        return out;
    }
    if (ec || std::filesystem::is_directory(status)) {
        throw config_error(path + ": cannot be read" + (ec ? ": " + ec.message() : std::string()));
    }
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        throw config_error(path + ": cannot be read");
    }

    std::string text;
    std::size_t number = 0;
    while (std::getline(file, text)) {
        ++number;
        std::string_view line = trim(text);
        // Editors on Windows may start the file with a UTF-8 byte order mark.
        if (number == 1 && line.starts_with("\xEF\xBB\xBF")) {
            line = trim(line.substr(3));
        }
        if (line.empty() || line.front() == '#') {
            continue;
        }
        if (line.starts_with("export") && line.size() > 6 && (line[6] == ' ' || line[6] == '\t')) {
            line = trim(line.substr(6));
        }
        const auto equals = line.find('=');
        if (equals == std::string_view::npos) {
            // The line itself is not echoed: it may be a password that lost its `KEY=`.
            fail_line(path, number, "expected KEY=VALUE");
        }
        const auto key = trim(line.substr(0, equals));
        if (!is_variable_name(key)) {
            fail_line(path, number,
                      "invalid variable name " + quote_json(key) +
                          " (letters, digits and '_', not starting with a digit)");
        }
        out.insert_or_assign(std::string(key), dotenv_value(line.substr(equals + 1), path, number));
    }
    if (file.bad()) {
        throw config_error(path + ": cannot be read");
    }
    return out;
}

// Settings of Redis's TLS and ACL that only make sense together.
void check_redis_access(const redis_options& r)
{
    if (!r.username.empty() && r.password.empty()) {
        throw config_error(
            "REDIS_USERNAME: needs REDIS_PASSWORD (the service authenticates with AUTH user "
            "password)");
    }
    if (!r.tls_cert_file.empty() && r.tls_key_file.empty()) {
        throw config_error("REDIS_TLS_KEY_FILE: must be set with REDIS_TLS_CERT_FILE (a client "
                           "certificate needs its private key)");
    }
    if (r.tls_cert_file.empty() && !r.tls_key_file.empty()) {
        throw config_error("REDIS_TLS_CERT_FILE: must be set with REDIS_TLS_KEY_FILE (a private "
                           "key needs its certificate)");
    }
    if (r.tls) {
        return;
    }
    // A TLS setting without TLS means the deployment believes it is encrypted when it is not.
    const std::pair<std::string_view, bool> tls_only[] = {
        {"REDIS_TLS_CA_FILE", !r.tls_ca_file.empty()},
        {"REDIS_TLS_CERT_FILE", !r.tls_cert_file.empty()},
        {"REDIS_TLS_KEY_FILE", !r.tls_key_file.empty()},
        {"REDIS_TLS_SERVER_NAME", !r.tls_server_name.empty()},
        {"REDIS_TLS_VERIFY", !r.tls_verify},
    };
    for (const auto& [name, set] : tls_only) {
        if (set) {
            throw config_error(std::string(name) +
                               ": set while REDIS_TLS is off; set REDIS_TLS=true to use it");
        }
    }
}

}  // namespace

settings from_env(const env_lookup& lookup)
{
    settings out;
    for (const auto& v : k_variables) {
        const auto raw = lookup(v.name);
        if (!raw) {
            continue;
        }
        // Secrets are taken verbatim: a password may legitimately begin or end with a space.
        const std::string_view value = v.json == json_kind::secret ? *raw : trim(*raw);
        if (value.empty()) {
            continue;
        }
        if (!v.parse(out, value)) {
            throw config_error(std::string(v.name) + ": expected " + v.expected() + ", got " +
                               quote_json(*raw));
        }
    }
    // A short token can be guessed. The value is a secret, so the message gives its length only.
    if (!out.admin_token.empty() && out.admin_token.size() < min_admin_token_length) {
        throw config_error("ADMIN_TOKEN: expected at least " +
                           std::to_string(min_admin_token_length) + " characters, got " +
                           std::to_string(out.admin_token.size()));
    }
    // One port cannot carry both listeners: SO_REUSEPORT would let them share it and split
    // the connections between them, so half the API would answer 404.
    if (out.http.metrics_port != 0 && out.http.metrics_port == out.http.port) {
        const auto port = std::to_string(out.http.port);
        throw config_error("METRICS_PORT: must differ from APP_PORT (both are " + port +
                           "); unset METRICS_PORT to serve /metrics on APP_PORT");
    }
    // A Redis Cluster has one database; SELECT is refused there.
    if (!out.redis.cluster_nodes.empty() && out.redis.db != 0) {
        throw config_error(
            "REDIS_DB: must be 0 with REDIS_CLUSTER_NODES (a Redis Cluster has one database), "
            "got " +
            quote_json(std::to_string(out.redis.db)));
    }
    check_redis_access(out.redis);
    if (out.http.threads == 0) {
        out.http.threads = std::max(1u, std::thread::hardware_concurrency());
    }
    // A type is forgotten only once none of its points can be listed any more.
    if (out.metrics.retention > out.metrics.type_idle) {
        throw config_error("METRICS_RETENTION_SECONDS (" +
                           std::to_string(out.metrics.retention.count()) +
                           ") must not exceed METRICS_TYPE_IDLE_SECONDS (" +
                           std::to_string(out.metrics.type_idle.count()) + ")");
    }
    // The limiter's arithmetic must stay exact in a Lua number.
    if (!ratelimit_options::fits(out.ratelimit.requests, out.ratelimit.window)) {
        throw config_error("RATE_LIMIT_REQUESTS x RATE_LIMIT_WINDOW_SECONDS: " +
                           std::to_string(out.ratelimit.requests) + " x " +
                           std::to_string(out.ratelimit.window.count()) +
                           " is too large (the product must stay below " +
                           std::to_string(ratelimit_options::max_scaled_count / 1000) + ")");
    }
    return out;
}

env_lookup process_env_with_dotenv(const std::string& dotenv_path)
{
    // Read once, now, so that a malformed file stops start-up before anything else happens.
    auto file = std::make_shared<const std::map<std::string, std::string, std::less<>>>(
        read_dotenv(dotenv_path));
    return [file](std::string_view name) -> std::optional<std::string> {
        // The real environment wins, even when set to the empty string, as in docker compose.
        if (const char* value = std::getenv(std::string(name).c_str())) {
            return std::string(value);
        }
        if (const auto it = file->find(name); it != file->end()) {
            return it->second;
        }
        return std::nullopt;
    };
}

std::string help_text()
{
    const settings defaults;
    std::size_t name_width = 0;
    for (const auto& v : k_variables) {
        name_width = std::max(name_width, v.name.size());
    }
    std::string out;
    for (const auto& v : k_variables) {
        std::string shown = v.show(defaults);
        if (shown.empty()) {
            shown = "(none)";
        }
        out += v.name;
        out.append(name_width + 2 - v.name.size(), ' ');
        out += shown;
        out.append(shown.size() < 22 ? 22 - shown.size() : 1, ' ');
        out += v.meaning;
        out += '\n';
    }
    return out;
}

std::string to_log_json(const settings& s)
{
    std::string out = "{";
    for (const auto& v : k_variables) {
        if (out.size() > 1) {
            out += ',';
        }
        out += quote_json(v.name);
        out += ':';
        // Numbers and booleans are printed in JSON syntax already; secret_kind::show gives only
        // "set" or "unset", never the value.
        if (v.json == json_kind::number || v.json == json_kind::boolean) {
            out += v.show(s);
        } else {
            out += quote_json(v.show(s));
        }
    }
    out += '}';
    return out;
}

}  // namespace analytics::config
