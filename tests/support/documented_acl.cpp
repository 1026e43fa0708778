#include "support/documented_acl.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace analytics::test {

documented_acl readme_acl(const std::string& password)
{
    const std::string path = std::string(ANALYTICS_SOURCE_DIR) + "/README.md";
    std::ifstream readme(path);
    if (!readme) {
        throw std::runtime_error("cannot read " + path);
    }
    std::string line;
    std::string found;
    while (std::getline(readme, line)) {
        if (line.rfind("ACL SETUSER ", 0) == 0) {
            if (!found.empty()) {
                throw std::runtime_error(path + " has more than one ACL SETUSER line");
            }
            found = line;
        }
    }
    if (found.empty()) {
        throw std::runtime_error(path + " has no line starting with ACL SETUSER");
    }
    documented_acl out;
    std::istringstream words(found);
    std::string word;
    while (words >> word) {
        out.setuser.push_back(word[0] == '>' ? ">" + password : word);
    }
    if (out.setuser.size() < 3) {
        throw std::runtime_error("the README's ACL SETUSER line names no user: " + found);
    }
    out.username = out.setuser[2];
    return out;
}

}  // namespace analytics::test
