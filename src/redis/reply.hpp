#pragma once
// A parsed RESP2 reply, owned by value (no hiredis type leaves redis/).
//
// Owns: the text of its strings. A reply read from Redis keeps the text of every string in it
// (its own, and every element's however deeply nested) in storage its root owns, a few blocks
// that grow by doubling, so that an array of a hundred members costs a few allocations, not one
// per member. `str` views that storage. Moving a reply moves no text, so the views stay valid;
// an element moved out of its array still views its root's storage and is valid only while
// the root lives. A copy owns its text.
//
// Thread safety: a value type.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace analytics::redis {

struct reply {
    enum class kind { string, array, integer, nil, status, error };

    kind type = kind::nil;
    std::string_view str;         // string, status and error replies (see above)
    std::int64_t integer = 0;     // integer replies
    std::vector<reply> elements;  // array replies

    /// A string, status or error reply holding a copy of `text`.
    static reply text(kind type, std::string_view text);
    static reply number(std::int64_t value);
    static reply array(std::vector<reply> elements);

    reply() = default;
    reply(const reply& other);
    reply& operator=(const reply& other);
    reply(reply&&) noexcept = default;
    reply& operator=(reply&&) noexcept = default;
    ~reply() = default;

    bool is_error() const { return type == kind::error; }
    bool is_nil() const { return type == kind::nil; }

    /// Copies `text` into the storage this reply owns and returns the copy (for itself or for
    /// one of its elements). Throws std::bad_alloc.
    std::string_view keep(std::string_view text);

private:
    // One block of storage; the newest is held, and each holds the one before it.
    struct block;
    struct block_deleter {
        void operator()(block* b) const noexcept;
    };

    void copy_text_from(const reply& other, reply& root);

    std::unique_ptr<block, block_deleter> storage_;
};

}  // namespace analytics::redis
