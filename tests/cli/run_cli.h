// Runs a program as a subprocess and captures what it did: exit status, signal,
// stdout and stderr. Used by the tests of the built `sadari` binary.
//
// The child is started with posix_spawn (no shell: arguments are passed as given),
// inherits the environment and working directory, and gets /dev/null as stdin.
// Both output pipes are drained together with poll(), so a child that writes a lot
// to one stream while we wait on the other cannot deadlock. A child still running
// after `timeout_seconds` is killed (SIGKILL) and reported with timed_out = true.
// Thread-safety: independent calls may run concurrently.
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace sadari::testing {

struct CliResult {
  int exit_code = -1;    // the exit status; -1 if the child did not exit normally
  int signal = 0;        // the signal that ended the child; 0 if it exited
  bool timed_out = false;
  std::string out, err;  // everything written to stdout / stderr

  bool exited() const { return signal == 0 && !timed_out; }
  // Describes the run for assertion messages.
  std::string describe() const {
    std::string d = "exit code " + std::to_string(exit_code);
    if (signal) d += ", killed by signal " + std::to_string(signal);
    if (timed_out) d += ", timed out";
    return d + "\n--- stdout ---\n" + out + "--- stderr ---\n" + err + "--------------";
  }
};

// Runs argv[0] (a path; not searched in PATH) with arguments argv[1..].
// Throws std::runtime_error only if the child cannot be started at all.
inline CliResult run_cli(const std::vector<std::string>& argv, double timeout_seconds = 60) {
  if (argv.empty()) throw std::runtime_error("run_cli: empty argv");
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("run_cli: pipe failed");
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    throw std::runtime_error("run_cli: pipe failed");
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  // dup2 clears FD_CLOEXEC on the target, so only 1 and 2 survive exec.
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);

  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  pid_t pid = -1;
  const int spawn_rc = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (spawn_rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    throw std::runtime_error("run_cli: cannot start " + argv[0] + ": " + std::to_string(spawn_rc));
  }

  CliResult r;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<long long>(timeout_seconds * 1000));
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_count = 2;
  char buf[4096];
  while (open_count > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) {
      ::kill(pid, SIGKILL);
      r.timed_out = true;
      break;
    }
    const int ready = ::poll(fds, 2, static_cast<int>(left));
    if (ready < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;  // poll ignores negative descriptors
        --open_count;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  return r;
}

}  // namespace sadari::testing
