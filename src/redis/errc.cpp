#include "redis/errc.hpp"

#include <string>

namespace analytics::redis {

namespace {

// Boost's error_category has a non-virtual destructor by design (categories are never deleted
// through a base pointer; ours is a function-local static), which -Wnon-virtual-dtor flags.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class redis_category final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "redis"; }

    std::string message(int value) const override
    {
        switch (static_cast<errc>(value)) {
        case errc::not_connected:
            return "not connected to redis";
        case errc::timeout:
            return "no reply from redis within the deadline";
        case errc::connection_lost:
            return "the connection to redis was lost while the command was in flight";
        case errc::server_error:
            return "redis answered with an error reply";
        case errc::protocol_error:
            return "redis sent bytes that are not valid RESP";
        case errc::stopped:
            return "the redis client was stopped";
        case errc::unexpected_reply:
            return "redis sent a reply of an unexpected shape";
        case errc::cluster_down:
            return "the redis cluster cannot serve the command right now (CLUSTERDOWN)";
        case errc::try_again:
            return "the command's slot was being migrated until the deadline (TRYAGAIN)";
        case errc::too_many_redirects:
            return "the redis cluster kept redirecting the command";
        case errc::cross_slot:
            return "the keys of one call hash to different cluster slots";
        case errc::too_few_replicas:
            return "fewer redis replicas than required acknowledged the write in time";
        }
        return "unknown redis error " + std::to_string(value);
    }
};
#pragma GCC diagnostic pop

}  // namespace

const boost::system::error_category& error_category() noexcept
{
    // A function-local static gives one category object per process, which is what
    // error_code comparisons rely on.
    static const redis_category instance;
    return instance;
}

}  // namespace analytics::redis
