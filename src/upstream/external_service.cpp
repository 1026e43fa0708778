#include "upstream/external_service.hpp"

#include "common/logging.hpp"
#include "upstream/http_service.hpp"
#include "upstream/simulated_service.hpp"

namespace analytics::upstream {

std::unique_ptr<external_service> make_external_service(const config::upstream_options& opts,
                                                        const simulation_settings& settings)
{
    std::unique_ptr<external_service> service;
    bool reads_ca_file = false;
    if (!opts.url.empty()) {
        auto http = std::make_unique<http_service>(opts.url, opts.ca_file);
        reads_ca_file = http->uses_tls();
        service = std::move(http);
    } else {
        service = std::make_unique<simulated_service>(settings);
    }
    if (!opts.ca_file.empty() && !reads_ca_file) {
        // A warning, not a start-up error: without TLS the file cannot change what a call does,
        // and a CA file left in an environment shared with https:// deployments should not stop
        // the service. Said once at start, so the mismatch (perhaps an http:// URL meant to be
        // https://) is seen; the file itself is not read.
        log::warn("upstream.ca_file_unused",
                  {{"ca_file", opts.ca_file},
                   {"reason", opts.url.empty() ? "EXTERNAL_SERVICE_URL is unset (simulator)"
                                               : "EXTERNAL_SERVICE_URL is http://, not https://"}});
    }
    return service;
}

}  // namespace analytics::upstream
