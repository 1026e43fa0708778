#pragma once
// One or more commands that go out together, back to back on one connection: the argument
// views of every command in one flat list, and where each command ends. A single command's
// views fit inline, so queueing one allocates nothing for them; the views refer to the
// caller's strings, which must outlive the call that sends the batch.
//
// Thread safety: a value type.

#include <boost/container/small_vector.hpp>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>

namespace analytics::redis {

class command_batch {
public:
    command_batch() = default;

    /// A batch of the one command `args`.
    explicit command_batch(std::span<const std::string_view> args) { add(args); }

    /// Appends one command.
    void add(std::span<const std::string_view> args)
    {
        args_.insert(args_.end(), args.begin(), args.end());
        ends_.push_back(static_cast<std::uint32_t>(args_.size()));
    }

    void add(std::initializer_list<std::string_view> args)
    {
        add(std::span<const std::string_view>(args.begin(), args.size()));
    }

    /// Builds a command one argument at a time: push_arg()... then end_command().
    void push_arg(std::string_view arg) { args_.push_back(arg); }
    void end_command() { ends_.push_back(static_cast<std::uint32_t>(args_.size())); }

    void reserve(std::size_t commands, std::size_t args)
    {
        ends_.reserve(commands);
        args_.reserve(args);
    }

    /// The number of commands.
    std::size_t size() const noexcept { return ends_.size(); }
    bool empty() const noexcept { return ends_.empty(); }

    /// The arguments of command `i`.
    std::span<const std::string_view> command(std::size_t i) const noexcept
    {
        const std::size_t begin = i == 0 ? 0 : ends_[i - 1];
        return {args_.data() + begin, ends_[i] - begin};
    }

    /// Replaces argument `arg` of command `i` (the numkeys of an EVALSHA, EVALSHA by EVAL).
    void set(std::size_t i, std::size_t arg, std::string_view value) noexcept
    {
        args_[(i == 0 ? 0 : ends_[i - 1]) + arg] = value;
    }

private:
    boost::container::small_vector<std::string_view, 16> args_;
    boost::container::small_vector<std::uint32_t, 2> ends_;
};

}  // namespace analytics::redis
