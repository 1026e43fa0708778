#include "redis/resp.hpp"

#include "common/string_writer.hpp"
#include "redis/errc.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cassert>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <vector>

namespace analytics::redis {

namespace {

// hiredis builds each reply through these functions, straight into our reply type: an array
// holds its elements by value, and the text of every string goes into storage the root reply
// owns (redis/reply.hpp), so a reply costs one allocation for its root, one for each array's
// element storage and a few for all its text, and nothing is copied afterwards. (hiredis's own
// objects cost two allocations per element, and converting them a third.) Each function
// returns null when memory runs out, which hiredis reports as out of memory; nothing may throw
// through its C code.
//
// Where an element goes: RESP sends an array's elements in order, each one complete before the
// next begins, so the element being built is always the last of its parent's, and no pointer
// into a parent's elements is used after the parent grows. hiredis hands freeObject only the
// root (a finished reply, or a partial one on error), which owns everything under it.
reply* place(const redisReadTask* task) noexcept
{
    try {
        if (task->parent == nullptr) {
            return new reply();
        }
        auto* parent = static_cast<reply*>(task->parent->obj);
        assert(parent->type == reply::kind::array);
        assert(static_cast<std::size_t>(task->idx) == parent->elements.size());
        return &parent->elements.emplace_back();
    } catch (const std::bad_alloc&) {
        return nullptr;
    }
}

// The reply whose storage keeps the text of the one `task` builds: the root, which hiredis
// created first (an array task holds its reply while its elements are read).
reply* root_of(const redisReadTask* task) noexcept
{
    while (task->parent != nullptr) {
        task = task->parent;
    }
    return static_cast<reply*>(task->obj);
}

reply::kind string_kind(int type) noexcept
{
    switch (type) {
    case REDIS_REPLY_STATUS:
        return reply::kind::status;
    case REDIS_REPLY_ERROR:
        return reply::kind::error;
    default:
        return reply::kind::string;
    }
}

// What may fail is allocated before the reply is placed, so that a root that could not be
// completed is not left behind: hiredis keeps (and frees) only what a function returned. (Text
// kept in a root for an element that could not be placed is freed with the root.)
void* create_string(const redisReadTask* task, char* str, std::size_t len) noexcept
{
    const std::string_view text(str, len);
    if (task->parent == nullptr) {
        std::unique_ptr<reply> r;
        try {
            r = std::make_unique<reply>();
            r->str = r->keep(text);
        } catch (const std::bad_alloc&) {
            return nullptr;
        }
        r->type = string_kind(task->type);
        return r.release();
    }
    std::string_view kept;
    try {
        kept = root_of(task)->keep(text);
    } catch (const std::bad_alloc&) {
        return nullptr;
    }
    reply* r = place(task);
    if (r == nullptr) {
        return nullptr;
    }
    r->type = string_kind(task->type);
    r->str = kept;
    return r;
}

// An array's storage grows with the elements that arrive, from room for at most this many:
// the count a reply announces is not yet backed by any data.
constexpr int array_reserve_limit = 1024;

void* create_array(const redisReadTask* task, int elements) noexcept
{
    if (elements > resp_reader::max_array_elements) {
        return nullptr;
    }
    std::vector<reply> storage;
    try {
        storage.reserve(static_cast<std::size_t>(std::clamp(elements, 0, array_reserve_limit)));
    } catch (const std::bad_alloc&) {
        return nullptr;
    }
    reply* r = place(task);
    if (r == nullptr) {
        return nullptr;
    }
    r->type = reply::kind::array;
    r->elements = std::move(storage);
    return r;
}

void* create_integer(const redisReadTask* task, long long value) noexcept
{
    reply* r = place(task);
    if (r != nullptr) {
        r->type = reply::kind::integer;
        r->integer = value;
    }
    return r;
}

void* create_nil(const redisReadTask* task) noexcept
{
    return place(task);  // a reply is nil until told otherwise
}

void free_object(void* root) noexcept
{
    delete static_cast<reply*>(root);
}

redisReplyObjectFunctions reply_functions{
    &create_string, &create_array, &create_integer, &create_nil, &free_object,
};

}  // namespace

void append_command(std::string& out, std::span<const std::string_view> args)
{
    // A batch's command has a hundred or so arguments: written through a pointer into room
    // made once, not appended piece by piece.
    constexpr std::size_t framing = 1 + common::string_writer::max_decimal + 2;  // "$<n>\r\n"
    std::size_t most = framing;
    for (const std::string_view a : args) {
        most += framing + a.size() + 2;
    }
    common::string_writer w(out, most);
    w.put('*');
    w.put_decimal(args.size());
    w.put("\r\n");
    for (const std::string_view a : args) {
        w.put('$');
        w.put_decimal(a.size());
        w.put("\r\n");
        w.put(a);
        w.put("\r\n");
    }
}

void resp_reader::reader_deleter::operator()(redisReader* r) const noexcept
{
    redisReaderFree(r);
}

resp_reader::resp_reader(std::unique_ptr<redisReader, reader_deleter> reader) noexcept
    : reader_(std::move(reader))
{
}

std::optional<resp_reader> resp_reader::create()
{
    std::unique_ptr<redisReader, reader_deleter> reader(redisReaderCreate());
    if (!reader) {
        return std::nullopt;
    }
    reader->fn = &reply_functions;
    return resp_reader(std::move(reader));
}

bool resp_reader::feed(std::string_view bytes)
{
    return redisReaderFeed(reader_.get(), bytes.data(), bytes.size()) == REDIS_OK;
}

boost::system::result<std::optional<reply>> resp_reader::next()
{
    void* raw = nullptr;
    if (redisReaderGetReply(reader_.get(), &raw) != REDIS_OK) {
        return make_error_code(errc::protocol_error);
    }
    if (raw == nullptr) {
        return std::optional<reply>();
    }
    const std::unique_ptr<reply> root(static_cast<reply*>(raw));
    return std::optional<reply>(std::move(*root));
}

std::string_view resp_reader::error() const noexcept
{
    // An array over the cap is reported by hiredis as out of memory; a real allocation
    // failure is all but impossible on Linux, so name the likelier cause too.
    if (reader_->err == REDIS_ERR_OOM) {
        return "array reply over the element limit, or out of memory";
    }
    return reader_->errstr;
}

parsed_replies parse_replies(std::string_view bytes, std::size_t chunk)
{
    parsed_replies out;
    auto reader = resp_reader::create();
    if (!reader) {
        out.failed = true;
        out.error = "out of memory";
        return out;
    }
    chunk = std::max<std::size_t>(chunk, 1);
    while (!bytes.empty()) {
        const auto piece = bytes.substr(0, chunk);
        bytes.remove_prefix(piece.size());
        if (!reader->feed(piece)) {
            out.failed = true;
            out.error = reader->error();
            return out;
        }
        for (;;) {
            auto next = reader->next();
            if (!next) {
                out.failed = true;
                out.error = reader->error();
                return out;
            }
            if (!*next) {
                break;
            }
            out.replies.push_back(std::move(**next));
        }
    }
    return out;
}

}  // namespace analytics::redis
