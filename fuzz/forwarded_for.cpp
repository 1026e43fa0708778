// Fuzzes who the service thinks the client is: config::parse_cidr_list / cidr::parse
// (TRUSTED_PROXIES), config::parse_address and http::client_address (X-Forwarded-For).
// The input is three lines: a trust list, the socket's peer address, the X-Forwarded-For value.
// Properties: a parsed network prints in a canonical form that parses back to the same network
// with the same membership; an untrusted peer is always the client, whatever the header says;
// the client is the peer or an address written in the header, never an IPv4-mapped spelling.

#include "config/cidr.hpp"
#include "http/client_ip.hpp"

#include <boost/asio/ip/address.hpp>

#include <string>
#include <vector>

#include "fuzz/support.hpp"

namespace analytics::fuzz {
namespace {

namespace ip = boost::asio::ip;

std::string_view next_line(std::string_view& rest)
{
    const auto nl = rest.find('\n');
    const auto line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    return line;
}

ip::address unmapped(const ip::address& a)
{
    if (a.is_v6() && a.to_v6().is_v4_mapped()) {
        return ip::make_address_v4(ip::v4_mapped, a.to_v6());
    }
    return a;
}

bool written_in(std::string_view header, const ip::address& client)
{
    // Every comma-separated entry, with brackets and ports stripped the lenient way: the client
    // must be one of these spellings.
    while (true) {
        const auto comma = header.find(',');
        std::string_view entry = header.substr(0, comma);
        while (!entry.empty() && (entry.front() == ' ' || entry.front() == '\t')) {
            entry.remove_prefix(1);
        }
        while (!entry.empty() && (entry.back() == ' ' || entry.back() == '\t')) {
            entry.remove_suffix(1);
        }
        std::vector<std::string_view> candidates{entry};
        if (!entry.empty() && entry.front() == '[') {
            candidates.push_back(entry.substr(1, entry.find(']') - 1));
        }
        if (const auto colon = entry.find(':');
            colon != std::string_view::npos &&
            entry.find(':', colon + 1) == std::string_view::npos) {
            candidates.push_back(entry.substr(0, colon));
        }
        for (const auto c : candidates) {
            if (const auto a = config::parse_address(c); a && unmapped(*a) == client) {
                return true;
            }
        }
        if (comma == std::string_view::npos) {
            return false;
        }
        header.remove_prefix(comma + 1);
    }
}

}  // namespace
}  // namespace analytics::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace analytics;
    namespace ip = boost::asio::ip;
    std::string_view rest = fuzz::as_text(data, size);
    const auto trust_text = fuzz::next_line(rest);
    const auto peer_text = fuzz::next_line(rest);
    const auto header = rest;

    const auto peer_parsed = config::parse_address(peer_text);
    const ip::address peer = peer_parsed ? *peer_parsed : ip::make_address("127.0.0.1");

    if (const auto single = config::cidr::parse(trust_text)) {
        const std::string canonical = to_string(*single);
        const auto back = config::cidr::parse(canonical);
        FUZZ_CHECK(back.has_value());
        FUZZ_CHECK(*back == *single);
        FUZZ_CHECK(to_string(*back) == canonical);
        FUZZ_CHECK(back->contains(peer) == single->contains(peer));
    }

    const auto list = config::parse_cidr_list(trust_text);
    const std::vector<config::cidr> trusted = list ? *list : config::default_trusted_proxies();
    if (list) {
        for (const auto& c : *list) {
            FUZZ_CHECK(config::cidr::parse(to_string(c)) == c);
        }
    }

    const ip::address client = http::client_address(peer, header, trusted);
    FUZZ_CHECK(!(client.is_v6() && client.to_v6().is_v4_mapped()));
    bool peer_trusted = false;
    for (const auto& c : trusted) {
        peer_trusted = peer_trusted || c.contains(peer);
    }
    if (!peer_trusted) {
        FUZZ_CHECK(client == fuzz::unmapped(peer));
    } else {
        FUZZ_CHECK(client == fuzz::unmapped(peer) || fuzz::written_in(header, client));
    }
    return 0;
}
