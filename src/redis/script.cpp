#include "redis/script.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace analytics::redis {

namespace {

// SHA-1 as specified in FIPS 180-4, section 6.1. Redis names a cached script by the SHA-1 of
// its source, so EVALSHA needs exactly this digest; a small local implementation keeps us off
// Boost's detail headers, whose digest API changed between releases.
class sha1_hasher {
public:
    void update(std::string_view data)
    {
        for (char c : data) {
            block_[block_size_++] = static_cast<std::uint8_t>(c);
            if (block_size_ == block_.size()) {
                compress();
                block_size_ = 0;
            }
        }
        length_bytes_ += data.size();
    }

    std::string hex_digest()
    {
        const std::uint64_t length_bits = length_bytes_ * 8;

        // Padding: a single 1 bit, zeros up to 56 bytes modulo 64, then the message length in
        // bits as a big-endian 64-bit integer.
        block_[block_size_++] = 0x80;
        if (block_size_ > 56) {
            while (block_size_ < block_.size()) {
                block_[block_size_++] = 0;
            }
            compress();
            block_size_ = 0;
        }
        while (block_size_ < 56) {
            block_[block_size_++] = 0;
        }
        for (int shift = 56; shift >= 0; shift -= 8) {
            block_[block_size_++] = static_cast<std::uint8_t>(length_bits >> shift);
        }
        compress();
        block_size_ = 0;

        static constexpr char hex[] = "0123456789abcdef";
        std::string out;
        out.reserve(40);
        for (std::uint32_t word : state_) {
            for (int shift = 28; shift >= 0; shift -= 4) {
                out.push_back(hex[(word >> shift) & 0xfU]);
            }
        }
        return out;
    }

private:
    static constexpr std::uint32_t rotl(std::uint32_t x, int n)
    {
        return (x << n) | (x >> (32 - n));
    }

    void compress()
    {
        std::array<std::uint32_t, 80> w{};
        for (std::size_t i = 0; i < 16; ++i) {
            w[i] = (std::uint32_t{block_[4 * i]} << 24) | (std::uint32_t{block_[4 * i + 1]} << 16) |
                   (std::uint32_t{block_[4 * i + 2]} << 8) | std::uint32_t{block_[4 * i + 3]};
        }
        for (std::size_t i = 16; i < w.size(); ++i) {
            w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        }

        auto [a, b, c, d, e] = state_;
        for (std::size_t i = 0; i < w.size(); ++i) {
            std::uint32_t f = 0;
            std::uint32_t k = 0;
            if (i < 20) {
                f = (b & c) | (~b & d);
                k = 0x5a827999;
            } else if (i < 40) {
                f = b ^ c ^ d;
                k = 0x6ed9eba1;
            } else if (i < 60) {
                f = (b & c) | (b & d) | (c & d);
                k = 0x8f1bbcdc;
            } else {
                f = b ^ c ^ d;
                k = 0xca62c1d6;
            }
            const std::uint32_t next = rotl(a, 5) + f + e + k + w[i];
            e = d;
            d = c;
            c = rotl(b, 30);
            b = a;
            a = next;
        }
        state_[0] += a;
        state_[1] += b;
        state_[2] += c;
        state_[3] += d;
        state_[4] += e;
    }

    std::array<std::uint32_t, 5> state_{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476,
                                        0xc3d2e1f0};
    std::array<std::uint8_t, 64> block_{};
    std::size_t block_size_ = 0;
    std::uint64_t length_bytes_ = 0;
};

std::string sha1_hex(std::string_view data)
{
    sha1_hasher hasher;
    hasher.update(data);
    return hasher.hex_digest();
}

}  // namespace

script::script(std::string source) : source_(std::move(source)), sha1_(sha1_hex(source_)) {}

}  // namespace analytics::redis
