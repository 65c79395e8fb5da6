// The exported Slurm gate on a real single-host Slurm (Debian slurm-wlm + munge): munged with a
// key made here, slurmctld and slurmd on 127.0.0.1 (proctrack/linuxproc, task/none, no cgroups,
// SlurmUser=root) in a temp dir, HealthCheckProgram = the exported script every second. A node
// whose gate passes stays idle; a flipped byte in the model drains it with the gate's reason; the
// fixed model resumes it; a job runs through the exported prolog. Skips only when the Slurm or
// munge binaries are missing (CI installs them: .ci/debian-packages-test.txt).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <thread>

#include "net/fleet_fixture.hpp"
#include "net/loopback_port.hpp"
#include "util/process.hpp"

namespace sd35 {
namespace {

namespace stdfs = std::filesystem;
using namespace std::chrono_literals;

// A daemon in the foreground in its own process group; stopped (TERM, then KILL) on destruction.
class Daemon {
 public:
  Daemon(std::vector<std::string> argv, const stdfs::path& log,
         const std::map<std::string, std::string>& env) {
    // Built before the fork, sized once.
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    if (pid_ > 0) ::setpgid(pid_, pid_);
  }
  ~Daemon() { stop(); }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  bool running() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGTERM);
    for (int i = 0; i < 30 && ::waitpid(pid_, nullptr, WNOHANG) == 0; ++i)
      std::this_thread::sleep_for(100ms);
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

std::string random_bytes(std::size_t n) {
  std::random_device rd;
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rd() & 0xff);
  return out;
}

std::string short_hostname() {
  char name[256] = {};
  ::gethostname(name, sizeof name - 1);
  std::string h = name;
  return h.substr(0, h.find('.'));
}

std::string slurm_conf(const stdfs::path& d, const std::string& node, int ctld_port,
                       int slurmd_port, const stdfs::path& healthcheck, const stdfs::path& prolog) {
  const std::string p = d.string();
  return "ClusterName=sd35test\nSlurmctldHost=" + node + "(127.0.0.1)\n" +
         "SlurmUser=root\nSlurmdUser=root\n" + "SlurmctldPort=" + std::to_string(ctld_port) + "\n" +
         "SlurmdPort=" + std::to_string(slurmd_port) + "\n" +
         "AuthType=auth/munge\nCredType=cred/munge\nAuthInfo=socket=" + p + "/munge/munge.sock\n" +
         "StateSaveLocation=" + p + "/state\nSlurmdSpoolDir=" + p + "/spool\n" +
         "SlurmctldPidFile=" + p + "/slurmctld.pid\nSlurmdPidFile=" + p + "/slurmd.pid\n" +
         "SlurmctldLogFile=" + p + "/slurmctld.log\nSlurmdLogFile=" + p + "/slurmd.log\n" +
         "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n" +
         "JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n" +
         "SwitchType=switch/none\nMpiDefault=none\nPlugStackConfig=/dev/null\n" +
         "SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\nReturnToService=2\n" +
         "HealthCheckProgram=" + healthcheck.string() + "\nHealthCheckInterval=1\n" +
         "HealthCheckNodeState=ANY\nProlog=" + prolog.string() + "\n" + "NodeName=" + node +
         " NodeAddr=127.0.0.1 CPUs=1 RealMemory=100 State=UNKNOWN\n" +
         "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n";
}

// Polls until pred() or the deadline; returns pred()'s last answer.
bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(200ms);
  }
  return pred();
}

class SlurmGate : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* b : {"munged", "slurmctld", "slurmd", "scontrol", "sinfo", "sbatch"})
      if (!proc::which(b)) GTEST_SKIP() << b << " not found: apt-get install slurm-wlm munge";
    if (test::cli_binary().empty()) GTEST_SKIP() << "needs SD35_BIN";
    env_ = {{"SLURM_CONF", (dir_ / "slurm.conf").string()}};
  }
  void TearDown() override {
    // Whatever happened: daemons down (slurmd first, so no step outlives it).
    slurmd_.reset();
    slurmctld_.reset();
    munged_.reset();
  }

  proc::Outcome slurm(std::vector<std::string> argv) {
    proc::Command c;
    c.argv = std::move(argv);
    c.env_overrides = env_;
    c.timeout = 10s;
    auto r = proc::run(c);
    return r ? *r : proc::Outcome{};
  }
  std::string node_line() { return slurm({"scontrol", "-o", "show", "node", node_}).out; }

  void start_slurm(const stdfs::path& healthcheck, const stdfs::path& prolog);

  test::TempDir dir_;
  std::string node_ = short_hostname();
  std::map<std::string, std::string> env_;
  std::unique_ptr<Daemon> munged_, slurmctld_, slurmd_;
};

void SlurmGate::start_slurm(const stdfs::path& healthcheck, const stdfs::path& prolog) {
  const auto d = dir_.path();
  for (const char* sub : {"munge", "state", "spool"}) stdfs::create_directories(d / sub);
  stdfs::permissions(d / "munge", stdfs::perms::owner_all);
  // A fresh munge key for this test (mungekey when there is one, else 1 KiB of random bytes).
  const auto key = d / "munge/munge.key";
  if (proc::which("mungekey"))
    slurm({*proc::which("mungekey"), "--create", "--keyfile=" + key.string()});
  if (!stdfs::exists(key)) dir_.write("munge/munge.key", random_bytes(1024));
  stdfs::permissions(key, stdfs::perms::owner_read);
  dir_.write("slurm.conf", slurm_conf(d, node_, testing::refused_port(), testing::refused_port(),
                                      healthcheck, prolog));
  const std::string m = (d / "munge").string();
  munged_ = std::make_unique<Daemon>(
      std::vector<std::string>{
          *proc::which("munged"), "-F", "--force", "--socket=" + m + "/munge.sock",
          "--key-file=" + key.string(), "--pid-file=" + m + "/munged.pid",
          "--seed-file=" + m + "/munged.seed", "--log-file=" + m + "/munged.log"},
      d / "munged.out", env_);
  ASSERT_TRUE(wait_for([&] { return stdfs::exists(m + "/munge.sock"); }, 5s)) << "munged";
  const std::string conf = (d / "slurm.conf").string();
  slurmctld_ = std::make_unique<Daemon>(
      std::vector<std::string>{*proc::which("slurmctld"), "-D", "-i", "-f", conf},
      d / "slurmctld.out", env_);
  ASSERT_TRUE(wait_for(
      [&] {
        return slurm({"sinfo", "-h"}).exit_code == 0;
      },
      10s))
      << *fs::read_file(d / "slurmctld.out");
  slurmd_ = std::make_unique<Daemon>(
      std::vector<std::string>{*proc::which("slurmd"), "-D", "-f", conf}, d / "slurmd.out", env_);
}

TEST_F(SlurmGate, HealthCheckDrainsABrokenModelResumesTheFixedOneAndThePrologGatesAJob) {
  const auto started = std::chrono::steady_clock::now();
  const auto fx = testing::make_gate_fixture(dir_);
  ASSERT_TRUE(stdfs::exists(fx.lock));
  const auto out = dir_ / "export";
  auto exp = test::run_cli(
      fx.with_globals({"export", "slurm", "--lock", fx.lock.string(), "--out", out.string(),
                       "--slurm-conf", (dir_ / "slurm.conf").string()}));
  ASSERT_EQ(exp.exit_code, 0) << exp.out << exp.err;
  // The site's own prolog calls ours (docs/fleet.md) and records that it ran.
  const auto prolog = dir_.write("prolog.sh",
                                 "#!/bin/bash\nrc=0\n" + (out / "sd35-prolog.sh").string() +
                                     " || rc=$?\necho \"job ${SLURM_JOB_ID:-?} rc=$rc\" >> " +
                                     (dir_ / "prolog.log").string() + "\nexit $rc\n",
                                 true);
  start_slurm(out / "sd35-healthcheck.sh", prolog);
  ASSERT_FALSE(HasFatalFailure());

  // Passing gate: the node comes up and stays idle, without a reason; the gate did run (its
  // stat cache beside the model exists).
  ASSERT_TRUE(wait_for([&] { return node_line().find("State=IDLE ") != std::string::npos; }, 15s))
      << node_line() << *fs::read_file(dir_ / "slurmd.out");
  const auto state =
      fx.cache / "models--org--tiny/.sd35-verify" / (std::string(testing::kGateCommit) + ".json");
  EXPECT_TRUE(wait_for([&] { return stdfs::exists(state); }, 5s));
  std::this_thread::sleep_for(2s);
  EXPECT_NE(node_line().find("State=IDLE "), std::string::npos) << node_line();
  EXPECT_EQ(node_line().find("DRAIN"), std::string::npos) << node_line();

  // Broken model: the health check drains the node with the gate's one-line reason.
  fx.break_model();
  ASSERT_TRUE(wait_for([&] { return node_line().find("DRAIN") != std::string::npos; }, 10s))
      << node_line() << "\nslurmd.log:\n"
      << fs::read_file(dir_ / "slurmd.log").value_or("");
  const std::string drained = node_line();
  EXPECT_NE(drained.find("Reason=sd35-setup: model:model.safetensors"), std::string::npos)
      << drained;
  auto sinfo = slurm({"sinfo", "-h", "-N", "-o", "%T|%100E"});
  EXPECT_NE(sinfo.out.find("drained|sd35-setup: model:model.safetensors"), std::string::npos)
      << sinfo.out;

  // Fixed model: the next health check resumes it (it was drained by us).
  fx.fix_model();
  ASSERT_TRUE(wait_for(
      [&] {
        const auto l = node_line();
        return l.find("State=IDLE ") != std::string::npos && l.find("DRAIN") == std::string::npos;
      },
      10s))
      << node_line();

  // A job: the prolog runs the gate first, then the job.
  const auto job_out = dir_ / "job.out";
  auto sb = slurm({"sbatch", "--parsable", "-o", job_out.string(), "--wrap", "echo gated-job-ran"});
  ASSERT_EQ(sb.exit_code, 0) << sb.out << sb.err;
  const std::string job = sb.out.substr(0, sb.out.find_first_of(";\n"));
  EXPECT_TRUE(wait_for(
      [&] {
        auto r = fs::read_file(job_out);
        return r && r->find("gated-job-ran") != std::string::npos;
      },
      15s))
      << slurm({"scontrol", "show", "job", job}).out;
  auto plog = fs::read_file(dir_ / "prolog.log");
  ASSERT_TRUE(plog) << "the prolog did not run";
  EXPECT_NE(plog->find("job " + job + " rc=0"), std::string::npos) << *plog;

  EXPECT_LT(std::chrono::steady_clock::now() - started, 60s);
}

}  // namespace
}  // namespace sd35
