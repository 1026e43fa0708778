#include "redis/resp.hpp"

#include "common/string_writer.hpp"
#include "redis/errc.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <mutex>

namespace analytics::redis {

namespace {

struct reply_deleter {
    void operator()(void* r) const noexcept { freeReplyObject(r); }
};

// hiredis keeps its reply constructors private (hiredis.c's defaultFunctions), but every reader
// that redisReaderCreate() makes points at them; the first one we make lends us the table.
std::once_flag functions_copied;
redisReplyObjectFunctions hiredis_functions{};
redisReplyObjectFunctions capped_functions{};

// hiredis allocates an array's element pointers as soon as it reads the announced count, before
// any element has arrived. Returning null makes it fail the stream as out of memory.
void* create_capped_array(const redisReadTask* task, int elements)
{
    if (elements > resp_reader::max_array_elements) {
        return nullptr;
    }
    return hiredis_functions.createArray(task, elements);
}

reply to_reply(const redisReply& r)
{
    reply out;
    switch (r.type) {
    case REDIS_REPLY_STRING:
        out.type = reply::kind::string;
        out.str.assign(r.str, r.len);
        break;
    case REDIS_REPLY_STATUS:
        out.type = reply::kind::status;
        out.str.assign(r.str, r.len);
        break;
    case REDIS_REPLY_ERROR:
        out.type = reply::kind::error;
        out.str.assign(r.str, r.len);
        break;
    case REDIS_REPLY_INTEGER:
        out.type = reply::kind::integer;
        out.integer = r.integer;
        break;
    case REDIS_REPLY_ARRAY:
        // hiredis refuses nesting deeper than 7 levels, so the recursion is bounded.
        out.type = reply::kind::array;
        out.elements.reserve(r.elements);
        for (std::size_t i = 0; i < r.elements; ++i) {
            out.elements.push_back(to_reply(*r.element[i]));
        }
        break;
    default:
        out.type = reply::kind::nil;
        break;
    }
    return out;
}

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
    std::call_once(functions_copied, [&] {
        hiredis_functions = *reader->fn;
        capped_functions = hiredis_functions;
        capped_functions.createArray = &create_capped_array;
    });
    reader->fn = &capped_functions;
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
    std::unique_ptr<void, reply_deleter> owned(raw);
    return std::optional<reply>(to_reply(*static_cast<const redisReply*>(raw)));
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
