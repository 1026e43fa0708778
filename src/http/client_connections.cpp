#include "http/client_connections.hpp"

#include "http/client_ip.hpp"

#include <cstring>

namespace analytics::http {

client_connections::client_connections(std::size_t max_per_client, unsigned ipv6_prefix,
                                       std::vector<config::cidr> uncapped)
    : max_per_client_(max_per_client), ipv6_prefix_(ipv6_prefix), uncapped_(std::move(uncapped))
{
}

std::size_t client_connections::key_hash::operator()(const key& k) const noexcept
{
    std::uint64_t a = 0;
    std::uint64_t b = 0;
    std::memcpy(&a, k.data(), 8);
    std::memcpy(&b, k.data() + 8, 8);
    // Fibonacci hashing of each half: cheap, and spreads the low-entropy halves (IPv4 in the
    // second, an IPv6 prefix in the first) over the whole word.
    return static_cast<std::size_t>((a * 0x9e3779b97f4a7c15ULL) ^ (b * 0xc2b2ae3d27d4eb4fULL));
}

client_connections::key client_connections::key_of(const boost::asio::ip::address& peer) const
{
    const auto network = client_network(peer, ipv6_prefix_);
    // IPv4 as its IPv4-mapped IPv6 form: one key type for both families.
    return network.is_v4()
               ? boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, network.to_v4())
                     .to_bytes()
               : network.to_v6().to_bytes();
}

client_connections::admission client_connections::enter(const boost::asio::ip::address& peer)
{
    if (is_trusted(peer, uncapped_)) {
        return admission::uncapped;
    }
    const key k = key_of(peer);
    std::lock_guard lock(mutex_);
    auto& open = open_[k];
    if (open >= max_per_client_) {
        if (open == 0) {
            open_.erase(k);
        }
        return admission::refused;
    }
    ++open;
    return admission::counted;
}

void client_connections::leave(const boost::asio::ip::address& peer)
{
    const key k = key_of(peer);
    std::lock_guard lock(mutex_);
    const auto it = open_.find(k);
    if (it == open_.end()) {
        return;
    }
    if (--it->second == 0) {
        open_.erase(it);
    }
}

std::size_t client_connections::clients() const
{
    std::lock_guard lock(mutex_);
    return open_.size();
}

}  // namespace analytics::http
