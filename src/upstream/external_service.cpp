#include "upstream/external_service.hpp"

#include "upstream/http_service.hpp"
#include "upstream/simulated_service.hpp"

namespace analytics::upstream {

std::unique_ptr<external_service> make_external_service(const config::upstream_options& opts,
                                                        const simulation_settings& settings)
{
    if (!opts.url.empty()) {
        return std::make_unique<http_service>(opts.url);
    }
    return std::make_unique<simulated_service>(settings);
}

}  // namespace analytics::upstream
