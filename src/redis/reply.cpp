#include "redis/reply.hpp"

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>

namespace analytics::redis {

namespace {

// A reply's first block of text, and the most that a later block doubles to: a list page's
// hundred members take four blocks, and a reply of many megabytes wastes little at the end of
// each block.
constexpr std::size_t first_block_size = 512;
constexpr std::size_t max_grown_block_size = 64 * 1024;

std::size_t text_size(const reply& r) noexcept
{
    std::size_t n = r.str.size();
    for (const reply& e : r.elements) {
        n += text_size(e);
    }
    return n;
}

}  // namespace

struct reply::block {
    block* previous = nullptr;
    std::size_t capacity = 0;
    std::size_t used = 0;

    char* data() noexcept { return reinterpret_cast<char*>(this + 1); }

    // Room for `capacity` characters after the header, in one allocation.
    static block* create(std::size_t capacity, block* previous)
    {
        void* raw = ::operator new(sizeof(block) + capacity);
        auto* b = new (raw) block();
        b->previous = previous;
        b->capacity = capacity;
        return b;
    }
};

void reply::block_deleter::operator()(block* b) const noexcept
{
    while (b != nullptr) {
        block* previous = b->previous;
        b->~block();
        ::operator delete(b);
        b = previous;
    }
}

reply reply::text(kind type, std::string_view text)
{
    reply r;
    r.type = type;
    r.str = r.keep(text);
    return r;
}

reply reply::number(std::int64_t value)
{
    reply r;
    r.type = kind::integer;
    r.integer = value;
    return r;
}

reply reply::array(std::vector<reply> elements)
{
    reply r;
    r.type = kind::array;
    r.elements = std::move(elements);
    return r;
}

reply::reply(const reply& other) : type(other.type), integer(other.integer)
{
    if (const std::size_t size = text_size(other); size > 0) {
        storage_.reset(block::create(size, nullptr));
    }
    copy_text_from(other, *this);
}

reply& reply::operator=(const reply& other)
{
    if (this != &other) {
        *this = reply(other);
    }
    return *this;
}

void reply::copy_text_from(const reply& other, reply& root)
{
    str = root.keep(other.str);
    elements.reserve(other.elements.size());
    for (const reply& e : other.elements) {
        reply& copy = elements.emplace_back();
        copy.type = e.type;
        copy.integer = e.integer;
        copy.copy_text_from(e, root);
    }
}

std::string_view reply::keep(std::string_view text)
{
    if (text.empty()) {
        return {};
    }
    block* b = storage_.get();
    if (b == nullptr || b->capacity - b->used < text.size()) {
        const std::size_t grown =
            b == nullptr ? first_block_size
                         : std::clamp(2 * b->capacity, first_block_size, max_grown_block_size);
        // The new block holds the ones before it: it takes their ownership over.
        b = block::create(std::max(grown, text.size()), b);
        static_cast<void>(storage_.release());
        storage_.reset(b);
    }
    char* at = b->data() + b->used;
    std::memcpy(at, text.data(), text.size());
    b->used += text.size();
    return {at, text.size()};
}

}  // namespace analytics::redis
