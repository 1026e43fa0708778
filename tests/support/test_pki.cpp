#include "support/test_pki.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace analytics::test {

namespace {

std::string slurp(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream out;
    out << in.rdbuf();
    return out.str();
}

}  // namespace

test_pki::test_pki()
{
    const auto base = std::filesystem::temp_directory_path() / "analytics-pki-XXXXXX";
    std::string dir = base.string();
    if (::mkdtemp(dir.data()) == nullptr) {
        throw std::runtime_error("mkdtemp failed");
    }
    dir_ = dir;
    try {
        make_ca("ca");
        make_ca("other-ca");
        ca_file_ = path("ca.pem");
        const std::string right_names = "DNS:localhost,IP:127.0.0.1,IP:::1";
        good_ = make_server("good", "ca", right_names, 1);
        untrusted_ = make_server("untrusted", "other-ca", right_names, 1);
        wrong_name_ = make_server("wrong-name", "ca", "DNS:wrong.example", 1);
        // openssl takes a negative validity: notAfter lies a day before notBefore (now).
        expired_ = make_server("expired", "ca", right_names, -1);
        client_ = make_identity("client", "ca", "extendedKeyUsage=clientAuth\n", 1);
    } catch (...) {
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
        throw;
    }
}

test_pki::~test_pki()
{
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
}

void test_pki::run(const std::string& command) const
{
    // The directory comes from mkdtemp (no spaces or quotes); the names are ours.
    const std::string log = path("openssl.log");
    const std::string line = "cd '" + dir_ + "' && " + command + " >'" + log + "' 2>&1";
    if (std::system(line.c_str()) != 0) {
        throw std::runtime_error("`" + command + "` failed:\n" + slurp(log));
    }
}

void test_pki::make_ca(const std::string& name) const
{
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
        " -subj '/CN=" +
        name + " for tests' -keyout " + name + ".key -out " + name +
        ".pem"
        " -addext basicConstraints=critical,CA:TRUE"
        " -addext keyUsage=critical,keyCertSign,cRLSign");
}

tls_identity test_pki::make_server(const std::string& name, const std::string& ca,
                                   const std::string& san, int days) const
{
    return make_identity(name, ca, "extendedKeyUsage=serverAuth\nsubjectAltName=" + san + "\n",
                         days);
}

tls_identity test_pki::make_identity(const std::string& name, const std::string& ca,
                                     const std::string& extensions, int days) const
{
    {
        std::ofstream ext(path(name + ".ext"));
        ext << "basicConstraints=CA:FALSE\n"
               "keyUsage=critical,digitalSignature\n"
            << extensions;
    }
    run("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '/CN=" +
        name + "' -keyout " + name + ".key -out " + name + ".csr");
    run("openssl x509 -req -in " + name + ".csr -CA " + ca + ".pem -CAkey " + ca +
        ".key -CAcreateserial -days " + std::to_string(days) + " -extfile " + name + ".ext -out " +
        name + ".pem");
    return {path(name + ".pem"), path(name + ".key")};
}

}  // namespace analytics::test
