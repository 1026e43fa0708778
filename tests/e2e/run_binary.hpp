#pragma once
// Runs analytics-api to completion (for --help, --version and start-up errors) and captures
// its exit status and output.

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace analytics::test {

struct binary_result {
    int exit_status = -1;  // -1: killed after the timeout
    std::string out;
    std::string err;
};

binary_result run_binary(const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& env,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace analytics::test
