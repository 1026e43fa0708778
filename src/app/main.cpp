// analytics-api: the Resilient Analytics HTTP service.
//
// Start-up errors are fatal and named (exit 2); everything after start-up is handled per request.

#include "app/application.hpp"
#include "common/logging.hpp"
#include "config/settings.hpp"

#include <cstdio>
#include <cstring>
#include <exception>
#include <string_view>

namespace {

constexpr std::string_view usage =
    "Usage: analytics-api [--help] [--version]\n"
    "\n"
    "Serves the Resilient Analytics API. Configuration comes from environment variables;\n"
    "a .env file in the working directory is read too (the environment wins).\n"
    "\n";

analytics::log::level to_log_level(analytics::config::log_level l)
{
    using analytics::config::log_level;
    switch (l) {
    case log_level::debug:
        return analytics::log::level::debug;
    case log_level::info:
        return analytics::log::level::info;
    case log_level::warning:
        return analytics::log::level::warning;
    case log_level::error:
        return analytics::log::level::error;
    }
    return analytics::log::level::info;
}

}  // namespace

int main(int argc, char** argv)
{
    using namespace analytics;

    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::fwrite(usage.data(), 1, usage.size(), stdout);
            const auto help = config::help_text();
            std::fwrite(help.data(), 1, help.size(), stdout);
            return 0;
        }
        if (arg == "--version" || arg == "-V") {
            std::printf("analytics-api %s\n", ANALYTICS_VERSION);
            return 0;
        }
        std::fprintf(stderr, "analytics-api: unknown argument \"%s\" (try --help)\n", argv[i]);
        return 2;
    }

    config::settings settings;
    try {
        settings = config::from_env(config::process_env_with_dotenv(".env"));
    } catch (const config::config_error& e) {
        std::fprintf(stderr, "analytics-api: configuration error: %s\n", e.what());
        return 2;
    }

    log::init(to_log_level(settings.log.level), settings.log.format == config::log_format::json
                                                    ? log::format::json
                                                    : log::format::text);
    const std::string config_json = config::to_log_json(settings);
    log::info("server.starting",
              {{"version", ANALYTICS_VERSION}, {"config", log::raw_json{config_json}}});
    try {
        app::application application(std::move(settings));
        application.start();
        const int status = application.run();
        log::flush();
        return status;
    } catch (const config::config_error& e) {
        // A setting only a component can check (a CA file's content, an APP_HOST that does not
        // resolve): as fatal as a malformed one.
        log::error("server.config_error", {{"error", e.what()}});
        std::fprintf(stderr, "analytics-api: configuration error: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        log::error("server.start_failed", {{"error", e.what()}});
        return 1;
    }
}
