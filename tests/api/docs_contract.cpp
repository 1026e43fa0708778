#include "api/docs_contract.hpp"

#include "api/docs_handlers.hpp"
#include "support/fake_request.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace analytics::test::openapi {

namespace json = boost::json;

namespace {

using test::lower;

constexpr std::array<std::string_view, 8> method_keys = {"get",     "put",  "post",  "delete",
                                                         "options", "head", "patch", "trace"};

bool is_method_key(std::string_view k)
{
    return std::find(method_keys.begin(), method_keys.end(), k) != method_keys.end();
}

std::string upper(std::string_view s)
{
    std::string out(s);
    for (auto& c : out) {
        if (c >= 'a' && c <= 'z') {
            c = static_cast<char>(c - 'a' + 'A');
        }
    }
    return out;
}

std::string describe(const operation_key& op)
{
    return op.path.empty() ? std::string("a request") : upper(op.method) + " " + op.path;
}

// The media type without parameters, in lower case: "application/json; charset=utf-8" ->
// "application/json".
std::string media_type(std::string_view content_type)
{
    std::string_view base = content_type.substr(0, content_type.find(';'));
    while (!base.empty() && base.back() == ' ') {
        base.remove_suffix(1);
    }
    return lower(base);
}

const json::object* operation_of(const json::object& doc, const operation_key& op)
{
    const auto* paths = doc.at("paths").if_object();
    const auto* item = paths ? paths->if_contains(op.path) : nullptr;
    if (item == nullptr || !item->is_object()) {
        return nullptr;
    }
    const auto* o = item->as_object().if_contains(op.method);
    return o != nullptr ? o->if_object() : nullptr;
}

// JSON Schema's "integer": any number with no fractional part.
bool is_integer(const json::value& v)
{
    if (v.is_int64() || v.is_uint64()) {
        return true;
    }
    return v.is_double() && std::isfinite(v.get_double()) &&
           std::trunc(v.get_double()) == v.get_double();
}

bool has_type(const json::value& v, std::string_view type)
{
    if (type == "null") {
        return v.is_null();
    }
    if (type == "boolean") {
        return v.is_bool();
    }
    if (type == "object") {
        return v.is_object();
    }
    if (type == "array") {
        return v.is_array();
    }
    if (type == "string") {
        return v.is_string();
    }
    if (type == "number") {
        return v.is_number();
    }
    if (type == "integer") {
        return is_integer(v);
    }
    return false;
}

bool digits(std::string_view s, std::size_t from, std::size_t count)
{
    if (from + count > s.size()) {
        return false;
    }
    for (std::size_t i = from; i < from + count; ++i) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

// RFC 3339 date-time, as JSON Schema's "date-time" format means it:
// YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM).
bool is_date_time(std::string_view s)
{
    if (!digits(s, 0, 4) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2) || s[7] != '-' ||
        !digits(s, 8, 2) || (s[10] != 'T' && s[10] != 't') || !digits(s, 11, 2) || s[13] != ':' ||
        !digits(s, 14, 2) || s[16] != ':' || !digits(s, 17, 2)) {
        return false;
    }
    std::size_t i = 19;
    if (s[i] == '.') {
        const std::size_t start = ++i;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            ++i;
        }
        if (i == start) {
            return false;
        }
    }
    const std::string_view zone = s.substr(i);
    return zone == "Z" || zone == "z" ||
           (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && digits(zone, 1, 2) &&
            zone[3] == ':' && digits(zone, 4, 2));
}

// The regular expressions of `pattern`, for the subset the document uses: literals, `\` escapes,
// `.`, bracket classes with ranges, the quantifiers * + ? {n} {n,} {n,m}, and ^ and $ anchors.
// Anything else throws, so a pattern this cannot read fails the test instead of passing it.
// (A hand-written matcher because GCC 12 reports std::regex's internals as maybe-uninitialized
// at -O1, which -Werror turns into a failed build.)
class pattern {
public:
    explicit pattern(std::string_view source)
    {
        std::size_t i = 0;
        if (!source.empty() && source.front() == '^') {
            anchored_start_ = true;
            ++i;
        }
        while (i < source.size()) {
            if (source[i] == '$' && i + 1 == source.size()) {
                anchored_end_ = true;
                break;
            }
            atom a;
            if (source[i] == '[') {
                i = parse_class(source, i + 1, a);
            } else if (source[i] == '\\' && i + 1 < source.size()) {
                a.chars.emplace_back(source[i + 1], source[i + 1]);
                i += 2;
            } else if (source[i] == '.') {
                a.any = true;
                ++i;
            } else if (std::string_view("()|*+?{}").find(source[i]) != std::string_view::npos) {
                throw std::runtime_error("unsupported pattern: " + std::string(source));
            } else {
                a.chars.emplace_back(source[i], source[i]);
                ++i;
            }
            i = parse_quantifier(source, i, a);
            atoms_.push_back(std::move(a));
        }
    }

    /// JSON Schema semantics: a match anywhere, unless anchored.
    bool search(std::string_view s) const
    {
        for (std::size_t start = 0; start <= s.size(); ++start) {
            if (match_at(s, start, 0)) {
                return true;
            }
            if (anchored_start_) {
                break;
            }
        }
        return false;
    }

private:
    struct atom {
        std::vector<std::pair<char, char>> chars;  // inclusive ranges
        bool any = false;
        bool negated = false;
        std::size_t min = 1;
        std::size_t max = 1;

        bool accepts(char c) const
        {
            if (any) {
                return c != '\n';
            }
            bool in = false;
            for (const auto& [lo, hi] : chars) {
                in = in || (c >= lo && c <= hi);
            }
            return in != negated;
        }
    };

    static std::size_t parse_class(std::string_view src, std::size_t i, atom& a)
    {
        if (i < src.size() && src[i] == '^') {
            a.negated = true;
            ++i;
        }
        bool first = true;
        while (i < src.size() && (src[i] != ']' || first)) {
            char lo = src[i];
            if (lo == '\\' && i + 1 < src.size()) {
                lo = src[++i];
            }
            char hi = lo;
            if (i + 2 < src.size() && src[i + 1] == '-' && src[i + 2] != ']') {
                hi = src[i + 2];
                i += 2;
            }
            a.chars.emplace_back(lo, hi);
            ++i;
            first = false;
        }
        if (i >= src.size()) {
            throw std::runtime_error("unterminated class in pattern: " + std::string(src));
        }
        return i + 1;
    }

    static std::size_t parse_quantifier(std::string_view src, std::size_t i, atom& a)
    {
        if (i >= src.size()) {
            return i;
        }
        constexpr std::size_t unbounded = std::numeric_limits<std::size_t>::max();
        switch (src[i]) {
        case '*':
            a.min = 0;
            a.max = unbounded;
            return i + 1;
        case '+':
            a.max = unbounded;
            return i + 1;
        case '?':
            a.min = 0;
            return i + 1;
        case '{': {
            const auto close = src.find('}', i);
            if (close == std::string_view::npos) {
                throw std::runtime_error("unterminated quantifier in pattern: " + std::string(src));
            }
            const std::string inner(src.substr(i + 1, close - i - 1));
            const auto comma = inner.find(',');
            a.min = std::stoul(inner.substr(0, comma));
            if (comma == std::string::npos) {
                a.max = a.min;
            } else if (comma + 1 == inner.size()) {
                a.max = unbounded;
            } else {
                a.max = std::stoul(inner.substr(comma + 1));
            }
            return close + 1;
        }
        default:
            return i;
        }
    }

    bool match_at(std::string_view s, std::size_t pos, std::size_t index) const
    {
        if (index == atoms_.size()) {
            return !anchored_end_ || pos == s.size();
        }
        const atom& a = atoms_[index];
        std::size_t n = 0;
        while (n < a.max && pos + n < s.size() && a.accepts(s[pos + n])) {
            ++n;
        }
        // Greedy, backing off one character at a time.
        for (std::size_t take = n + 1; take-- > a.min;) {
            if (match_at(s, pos + take, index + 1)) {
                return true;
            }
        }
        return false;
    }

    std::vector<atom> atoms_;
    bool anchored_start_ = false;
    bool anchored_end_ = false;
};

// The property names a schema knows, through $ref, allOf and anyOf, for the strict check.
void collect_properties(const json::object& doc, const json::value& schema,
                        std::set<std::string>& names)
{
    const auto* s = resolve(doc, schema).if_object();
    if (s == nullptr) {
        return;
    }
    if (const auto* props = s->if_contains("properties"); props && props->is_object()) {
        for (const auto& p : props->as_object()) {
            names.emplace(p.key());
        }
    }
    for (const char* combinator : {"allOf", "anyOf", "oneOf"}) {
        if (const auto* list = s->if_contains(combinator); list && list->is_array()) {
            for (const auto& sub : list->as_array()) {
                collect_properties(doc, sub, names);
            }
        }
    }
}

void validate_into(const json::object& doc, const json::value& schema_value, const json::value& v,
                   bool strict, bool check_unknown, const std::string& at,
                   std::vector<std::string>& out)
{
    const json::value& resolved = resolve(doc, schema_value);
    if (resolved.is_bool()) {
        if (!resolved.get_bool()) {
            out.push_back(at + ": no value is allowed here");
        }
        return;
    }
    const auto* s = resolved.if_object();
    if (s == nullptr) {
        return;
    }

    if (const auto* all = s->if_contains("allOf"); all && all->is_array()) {
        for (const auto& sub : all->as_array()) {
            validate_into(doc, sub, v, strict, false, at, out);
        }
    }
    if (const auto* any = s->if_contains("anyOf"); any && any->is_array()) {
        std::vector<std::string> first;
        bool matched = false;
        for (const auto& sub : any->as_array()) {
            std::vector<std::string> problems;
            validate_into(doc, sub, v, strict, false, at, problems);
            if (problems.empty()) {
                matched = true;
                break;
            }
            if (first.empty()) {
                first = std::move(problems);
            }
        }
        if (!matched) {
            out.push_back(at + ": matches none of anyOf (first: " +
                          (first.empty() ? std::string("?") : first.front()) + ")");
        }
    }

    if (const auto* type = s->if_contains("type")) {
        bool ok = false;
        std::string wanted;
        if (type->is_string()) {
            ok = has_type(v, type->get_string());
            wanted = type->get_string();
        } else if (type->is_array()) {
            for (const auto& t : type->as_array()) {
                ok = ok || (t.is_string() && has_type(v, t.get_string()));
                wanted += (wanted.empty() ? "" : " or ") + std::string(t.as_string());
            }
        }
        if (!ok) {
            out.push_back(at + ": " + json::serialize(v) + " is not of type " + wanted);
            return;
        }
    }
    if (const auto* e = s->if_contains("enum"); e && e->is_array()) {
        const auto& list = e->as_array();
        if (std::find(list.begin(), list.end(), v) == list.end()) {
            out.push_back(at + ": " + json::serialize(v) + " is not one of " + json::serialize(*e));
        }
    }
    if (const auto* c = s->if_contains("const"); c && *c != v) {
        out.push_back(at + ": " + json::serialize(v) + " is not " + json::serialize(*c));
    }

    if (v.is_number()) {
        const double d = v.to_number<double>();
        if (const auto* m = s->if_contains("minimum");
            m && m->is_number() && d < m->to_number<double>()) {
            out.push_back(at + ": " + json::serialize(v) + " is below " + json::serialize(*m));
        }
        if (const auto* m = s->if_contains("maximum");
            m && m->is_number() && d > m->to_number<double>()) {
            out.push_back(at + ": " + json::serialize(v) + " is above " + json::serialize(*m));
        }
    }
    if (v.is_string()) {
        const std::string_view str = v.get_string();
        if (const auto* m = s->if_contains("minLength");
            m && m->is_number() && str.size() < m->to_number<std::size_t>()) {
            out.push_back(at + ": \"" + std::string(str) + "\" is too short");
        }
        if (const auto* m = s->if_contains("maxLength");
            m && m->is_number() && str.size() > m->to_number<std::size_t>()) {
            out.push_back(at + ": \"" + std::string(str) + "\" is too long");
        }
        if (const auto* p = s->if_contains("pattern"); p && p->is_string()) {
            if (!pattern(p->get_string()).search(str)) {
                out.push_back(at + ": \"" + std::string(str) + "\" does not match " +
                              std::string(p->get_string()));
            }
        }
        if (const auto* f = s->if_contains("format");
            f && f->is_string() && f->get_string() == "date-time" && !is_date_time(str)) {
            out.push_back(at + ": \"" + std::string(str) + "\" is not an RFC 3339 date-time");
        }
    }
    if (v.is_array()) {
        const auto& arr = v.get_array();
        if (const auto* m = s->if_contains("minItems");
            m && m->is_number() && arr.size() < m->to_number<std::size_t>()) {
            out.push_back(at + ": fewer than " + json::serialize(*m) + " items");
        }
        if (const auto* items = s->if_contains("items")) {
            for (std::size_t i = 0; i < arr.size(); ++i) {
                validate_into(doc, *items, arr[i], strict, true, at + "[" + std::to_string(i) + "]",
                              out);
            }
        }
    }
    if (v.is_object()) {
        const auto& obj = v.get_object();
        if (const auto* req = s->if_contains("required"); req && req->is_array()) {
            for (const auto& name : req->as_array()) {
                if (name.is_string() && !obj.contains(name.get_string())) {
                    out.push_back(at + ": the required property \"" +
                                  std::string(name.get_string()) + "\" is missing");
                }
            }
        }
        const auto* props = s->if_contains("properties");
        if (props != nullptr && props->is_object()) {
            for (const auto& [name, value] : obj) {
                if (const auto* ps = props->as_object().if_contains(name)) {
                    validate_into(doc, *ps, value, strict, true, at + "." + std::string(name), out);
                }
            }
        }
        // `additionalProperties: true` says in so many words that other fields may appear.
        const auto* extra = s->if_contains("additionalProperties");
        const bool open = extra != nullptr && extra->is_bool() && extra->get_bool();
        if (strict && check_unknown && !open) {
            std::set<std::string> known;
            collect_properties(doc, schema_value, known);
            if (!known.empty()) {
                for (const auto& member : obj) {
                    if (known.count(std::string(member.key())) == 0) {
                        out.push_back(at + ": the property \"" + std::string(member.key()) +
                                      "\" is not documented");
                    }
                }
            }
        }
    }
}

// HTTP's own framing fields, which no OpenAPI document lists.
bool is_framing_header(std::string_view lower_name)
{
    return lower_name == "content-type" || lower_name == "content-length" ||
           lower_name == "connection" || lower_name == "keep-alive" ||
           lower_name == "transfer-encoding" || lower_name == "date" || lower_name == "server";
}

}  // namespace

const json::object& document()
{
    static const json::object doc = json::parse(api::docs_handlers::openapi_document()).as_object();
    return doc;
}

std::string method_key(http::method m)
{
    return lower(http::to_string(m));
}

std::set<operation_key> operations(const json::object& doc)
{
    std::set<operation_key> out;
    for (const auto& [path, item] : doc.at("paths").as_object()) {
        for (const auto& entry : item.as_object()) {
            if (is_method_key(entry.key())) {
                out.insert({std::string(entry.key()), std::string(path)});
            }
        }
    }
    return out;
}

std::vector<std::string> compare_routes(const std::vector<http::router::route_info>& routes,
                                        const json::object& doc)
{
    std::set<operation_key> served;
    for (const auto& r : routes) {
        served.insert({method_key(r.verb), r.path});
        if (r.verb == http::method::get) {
            served.insert({"head", r.path});
        }
    }
    std::vector<std::string> problems;
    const auto documented = operations(doc);
    for (const auto& op : documented) {
        if (served.count(op) == 0) {
            problems.push_back("docs/openapi.json documents " + describe(op) +
                               ", but no route serves it");
        }
    }
    for (const auto& r : routes) {
        const operation_key op{method_key(r.verb), r.path};
        if (documented.count(op) == 0) {
            problems.push_back("the router serves " + describe(op) +
                               ", but docs/openapi.json does not document it");
        }
        // The router answers HEAD with every GET route; validators and generated clients
        // refuse a HEAD the document does not list.
        const operation_key head{"head", r.path};
        if (r.verb == http::method::get && documented.count(head) == 0) {
            problems.push_back("the router serves " + describe(head) +
                               " (with GET), but docs/openapi.json does not document it");
        }
    }
    return problems;
}

std::set<unsigned> documented_statuses(const json::object& doc, const operation_key& op)
{
    std::set<unsigned> out;
    const auto* o = operation_of(doc, op);
    if (o == nullptr) {
        return out;
    }
    for (const auto& r : o->at("responses").as_object()) {
        const std::string_view key = r.key();
        if (key.size() == 3 &&
            std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            out.insert(static_cast<unsigned>(std::stoul(std::string(key))));
        }
    }
    return out;
}

const json::value& resolve(const json::object& doc, const json::value& v)
{
    const json::value* current = &v;
    // A bound, so a reference cycle fails the test instead of hanging it.
    for (int hops = 0; hops < 32; ++hops) {
        const auto* obj = current->if_object();
        const auto* ref = obj ? obj->if_contains("$ref") : nullptr;
        if (ref == nullptr || !ref->is_string()) {
            return *current;
        }
        const std::string_view pointer = ref->get_string();
        if (!pointer.starts_with("#/")) {
            throw std::runtime_error("not a local reference: " + std::string(pointer));
        }
        const json::value* node = nullptr;
        const json::object* scope = &doc;
        std::string_view rest = pointer.substr(2);
        while (true) {
            const auto slash = rest.find('/');
            std::string token(rest.substr(0, slash));
            // RFC 6901: ~1 is '/', ~0 is '~' (in that order).
            for (std::size_t p; (p = token.find("~1")) != std::string::npos;) {
                token.replace(p, 2, "/");
            }
            for (std::size_t p; (p = token.find("~0")) != std::string::npos;) {
                token.replace(p, 2, "~");
            }
            node = scope ? scope->if_contains(token) : nullptr;
            if (node == nullptr) {
                throw std::runtime_error("unresolved reference: " + std::string(pointer));
            }
            if (slash == std::string_view::npos) {
                break;
            }
            scope = node->if_object();
            rest.remove_prefix(slash + 1);
        }
        current = node;
    }
    throw std::runtime_error("reference chain too long");
}

const char* router_response_name(unsigned status)
{
    switch (status) {
    case 400:
        return "MalformedRequest";
    case 404:
        return "NotFound";
    case 405:
        return "MethodNotAllowed";
    default:
        return nullptr;
    }
}

const json::object* response_for(const json::object& doc, const operation_key& op, unsigned status)
{
    const std::string key = std::to_string(status);
    const json::value* r = nullptr;
    if (const auto* o = operation_of(doc, op)) {
        r = o->at("responses").as_object().if_contains(key);
    } else if (const char* name = router_response_name(status)) {
        const auto* responses = doc.at("components").at("responses").if_object();
        r = responses != nullptr ? responses->if_contains(name) : nullptr;
    }
    return r != nullptr ? resolve(doc, *r).if_object() : nullptr;
}

std::vector<std::string> validate(const json::object& doc, const json::value& schema,
                                  const json::value& instance, bool strict, const std::string& at)
{
    std::vector<std::string> out;
    validate_into(doc, schema, instance, strict, true, at, out);
    return out;
}

std::vector<std::string> check_response(const json::object& doc, const operation_key& op,
                                        const observed_response& r)
{
    std::vector<std::string> out;
    const std::string what = describe(op) + " -> " + std::to_string(r.status);
    // The router answers HEAD with the GET route (the document's introduction says so).
    const bool head_of_get = op.method == "head" && operation_of(doc, op) == nullptr &&
                             operation_of(doc, {"get", op.path}) != nullptr;
    const json::object* response =
        response_for(doc, head_of_get ? operation_key{"get", op.path} : op, r.status);
    if (response == nullptr) {
        out.push_back(what + ": the status is not documented for it");
        return out;
    }

    std::map<std::string, const json::object*> documented;  // lower-case name -> header object
    if (const auto* headers = response->if_contains("headers")) {
        for (const auto& [name, h] : headers->as_object()) {
            documented[lower(name)] = resolve(doc, h).if_object();
        }
    }
    for (const auto& [name, value] : r.headers) {
        if (is_framing_header(name)) {
            continue;
        }
        const auto it = documented.find(name);
        if (it == documented.end() || it->second == nullptr) {
            out.push_back(what + ": the header " + name + " is not documented");
            continue;
        }
        const auto* schema = it->second->if_contains("schema");
        if (schema == nullptr) {
            continue;
        }
        // Header values are text; one whose schema says integer must read as one.
        json::value as_json = json::string(value);
        const auto* type = resolve(doc, *schema).as_object().if_contains("type");
        if (type && type->is_string() && type->get_string() == "integer") {
            const bool digits =
                !value.empty() && std::all_of(value.begin(), value.end(),
                                              [](char c) { return c >= '0' && c <= '9'; });
            if (!digits) {
                out.push_back(what + ": the header " + name + " is not an integer: " + value);
                continue;
            }
            as_json = static_cast<std::int64_t>(std::stoll(value));
        }
        for (auto& p : validate(doc, *schema, as_json, false, "header " + name)) {
            out.push_back(what + ": " + p);
        }
    }
    for (const auto& [name, h] : documented) {
        const auto* required = h ? h->if_contains("required") : nullptr;
        if (required && required->is_bool() && required->get_bool() && r.headers.count(name) == 0) {
            out.push_back(what + ": the required header " + name + " is missing");
        }
    }

    const auto ct = r.headers.find("content-type");
    const auto* content = response->if_contains("content");
    if (content == nullptr || content->as_object().empty()) {
        if (!r.body.empty()) {
            out.push_back(what + ": a body where the document says there is none");
        }
        // A HEAD answer describes the GET's content; any other answer without content has no
        // content metadata (RFC 9110 § 15.4.5 for 304).
        if (!r.head && ct != r.headers.end()) {
            out.push_back(what + ": Content-Type \"" + ct->second +
                          "\" where the document says there is no content");
        }
        return out;
    }
    const std::string observed = ct == r.headers.end() ? std::string() : media_type(ct->second);
    const json::object* media = nullptr;
    for (const auto& [key, m] : content->as_object()) {
        if (media_type(key) == observed) {
            media = m.if_object();
        }
    }
    if (media == nullptr) {
        out.push_back(what + ": the content type \"" + observed + "\" is not documented");
        return out;
    }
    if (r.head || observed != "application/json") {
        return out;
    }
    boost::system::error_code ec;
    const json::value body = json::parse(r.body, ec);
    if (ec) {
        out.push_back(what + ": the body is not JSON");
        return out;
    }
    if (const auto* schema = media->if_contains("schema")) {
        for (auto& p : validate(doc, *schema, body, true)) {
            out.push_back(what + ": " + p);
        }
    }
    return out;
}

}  // namespace analytics::test::openapi
