// LoRA adapters through the daemon: golden outputs against PEFT per adapter and in one mixed batch,
// the tenant isolation matrix over the Admin and Inference services, names that try to leave the
// adapter folder, malformed adapters refused while the daemon serves, and reload and unload under
// traffic. The tiny-llama fixture and its three PEFT adapters, on the CPU engine.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/notification.h"
#include "adapters/peft_adapter_loader.h"
#include "client/client.h"
#include "server/daemon.h"
#include "tessera/v1/admin.grpc.pb.h"
#include "tests/engine/cpu/golden_reference.h"
#include "tests/server/daemon_clients.h"
#include "tests/server/http_test_client.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const fs::path kFixtures(TESSERA_FIXTURES_DIR);
constexpr const char* kAdapters[] = {"tiny-llama-r8-all", "tiny-llama-r16-attn",
                                     "tiny-llama-r4-mlp"};

// The reference's greedy tokens must match up to the first near tie.
void ExpectGreedyMatches(const GoldenCase& c, const std::vector<int32_t>& got,
                         const std::string& what) {
  ASSERT_EQ(got.size(), c.greedy.size()) << what;
  size_t compared = 0;
  for (size_t t = 0; t < c.greedy.size() && c.margins[t] >= 1e-3; ++t, ++compared) {
    ASSERT_EQ(got[t], c.greedy[t]) << what << " step " << t;
  }
  EXPECT_GT(compared, 0u) << what;
}

class DaemonAdaptersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kFixtures / "adapters/tiny-llama-r8-all/adapter_config.json")) {
      GTEST_SKIP() << "fixtures absent";
    }
    work_ = fs::temp_directory_path() /
            absl::StrCat("tessera-adapters-", getpid(), "-",
                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(work_);
    dir_ = work_ / "adapters";
    fs::create_directories(dir_);
    for (const char* a : kAdapters) {
      fs::copy(kFixtures / "adapters" / a, dir_ / a, fs::copy_options::recursive);
    }
    keys_ = work_ / "keys.json";
    std::ofstream(keys_) << R"({"keys": [{"key": "sk-acme", "tenant": "acme"},
                                         {"key": "sk-globex", "tenant": "globex"},
                                         {"key": "sk-ops", "tenant": "ops", "role": "admin"}]})";
    DaemonOptions o;
    o.model_dir = (kFixtures / "models/tiny-llama").string();
    o.port = 0;
    o.metrics_port = 0;
    o.engine.threads = 1;
    o.engine.kv_cache_bytes = int64_t{64} << 20;
    o.engine.max_loras = 4;
    o.api_keys_file = keys_.string();
    o.adapter_dir = dir_.string();
    ConfigureDaemon(o);
    absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(o);
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = *std::move(d);
  }
  // Changes the options before the daemon starts (adapters are copied to dir_ by then).
  virtual void ConfigureDaemon(DaemonOptions& o) { (void)o; }
  void TearDown() override {
    daemon_.reset();
    if (!work_.empty()) fs::remove_all(work_);
  }
  std::unique_ptr<Client> Connect(const std::string& key) const {
    return daemon_test::Connect(*daemon_, key, absl::Seconds(120));
  }
  std::unique_ptr<v1::Admin::Stub> Admin() const { return daemon_test::AdminStub(*daemon_); }
  static grpc::Status Call(const std::string& key, auto&& method) {
    return daemon_test::CallWithKey(key, method);
  }
  std::vector<GoldenCase> Cases(const std::string& adapter) const {
    return LoadGoldenCases(
        (kFixtures / "refs" / ("tiny-llama+" + adapter + ".public.json")).string());
  }
  static v1::GenerateRequest Greedy(const GoldenCase& c, const std::string& adapter) {
    v1::GenerateRequest r;
    for (int32_t id : c.prompt_ids) r.add_token_ids(id);
    r.set_max_tokens(static_cast<int32_t>(c.greedy.size()));
    r.set_ignore_eos(true);
    r.set_adapter(adapter);
    return r;
  }

  fs::path work_, dir_, keys_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(DaemonAdaptersTest, EachAdapterAndAMixedBatchMatchPeft) {
  std::unique_ptr<Client> client = Connect("sk-acme");
  // One at a time, loaded lazily by name from --adapter-dir.
  for (const char* a : kAdapters) {
    const GoldenCase c = Cases(a)[3];
    absl::StatusOr<GenerateOutput> out = client->GenerateAndCollect(Greedy(c, a));
    ASSERT_TRUE(out.ok()) << a << ": " << out.status();
    ExpectGreedyMatches(c, out->samples[0].token_ids, a);
  }
  // Then the base model and all three at once, several prompts each, so steps mix them.
  const std::vector<GoldenCase> base =
      LoadGoldenCases((kFixtures / "refs/tiny-llama.public.json").string());
  std::vector<std::thread> threads;
  std::vector<std::string> failures(16);
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      const int which = i % 4;
      const int case_index = 2 + i / 4;
      const std::string adapter = which < 3 ? kAdapters[which] : "";
      const GoldenCase c = which < 3 ? Cases(adapter)[case_index] : base[case_index];
      absl::StatusOr<GenerateOutput> out = client->GenerateAndCollect(Greedy(c, adapter));
      if (!out.ok()) {
        failures[i] = out.status().ToString();
        return;
      }
      size_t t = 0;
      for (; t < c.greedy.size() && c.margins[t] >= 1e-3; ++t) {
        if (out->samples[0].token_ids[t] != c.greedy[t]) {
          failures[i] = absl::StrCat(adapter.empty() ? "base" : adapter, " case ", case_index,
                                     " differs at step ", t);
          return;
        }
      }
      if (t == 0) failures[i] = "nothing compared";
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < 16; ++i) EXPECT_EQ(failures[i], "") << "request " << i;
}

TEST_F(DaemonAdaptersTest, TenantIsolationMatrix) {
  std::unique_ptr<v1::Admin::Stub> admin = Admin();
  const std::string r8 = (dir_ / "tiny-llama-r8-all").string();
  // The admin loads a private adapter for acme, and a public one.
  v1::LoadAdapterRequest load;
  load.set_name("acme-secret");
  load.set_path(r8);
  load.set_owner("acme");
  v1::AdapterStatus status;
  ASSERT_TRUE(Call("sk-ops", [&](auto* c) { return admin->LoadAdapter(c, load, &status); }).ok());
  EXPECT_EQ(status.owner(), "acme");
  EXPECT_EQ(status.rank(), 8);
  load.set_name("shared");
  load.clear_owner();
  ASSERT_TRUE(Call("sk-ops", [&](auto* c) { return admin->LoadAdapter(c, load, &status); }).ok());

  const GoldenCase c = Cases("tiny-llama-r8-all")[2];
  auto generate = [&](const std::string& key, const std::string& adapter) {
    return Connect(key)->GenerateAndCollect(Greedy(c, adapter)).status();
  };
  EXPECT_TRUE(generate("sk-acme", "acme-secret").ok());
  EXPECT_TRUE(generate("sk-acme", "shared").ok());
  EXPECT_TRUE(generate("sk-globex", "shared").ok());
  // Another tenant's private adapter is indistinguishable from a missing one.
  const absl::Status hidden = generate("sk-globex", "acme-secret");
  const absl::Status missing = generate("sk-globex", "no-such-adapter");
  EXPECT_EQ(hidden.code(), absl::StatusCode::kNotFound) << hidden;
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound) << missing;
  EXPECT_EQ(hidden.message(),
            absl::StrReplaceAll(missing.message(), {{"no-such-adapter", "acme-secret"}}));

  auto list = [&](const std::string& key) {
    v1::ListAdaptersResponse r;
    EXPECT_TRUE(Call(key, [&](auto* ctx) {
                  return admin->ListAdapters(ctx, v1::ListAdaptersRequest(), &r);
                }).ok());
    std::set<std::string> names;
    for (const v1::AdapterStatus& a : r.adapters()) names.insert(a.owner() + "/" + a.name());
    return names;
  };
  EXPECT_TRUE(list("sk-acme").contains("acme/acme-secret"));
  EXPECT_FALSE(list("sk-globex").contains("acme/acme-secret"));
  EXPECT_TRUE(list("sk-globex").contains("/shared"));
  EXPECT_TRUE(list("sk-ops").contains("acme/acme-secret"));

  // A tenant may not load from a server path nor for another owner, nor unload others' adapters.
  v1::LoadAdapterRequest by_path;
  by_path.set_name("mine");
  by_path.set_path(r8);
  EXPECT_EQ(Call("sk-globex", [&](auto* ctx) { return admin->LoadAdapter(ctx, by_path, &status); })
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::UnloadAdapterRequest unload;
  unload.set_name("acme-secret");
  EXPECT_EQ(Call("sk-globex",
                 [&](auto* ctx) {
                   v1::UnloadAdapterResponse r;
                   return admin->UnloadAdapter(ctx, unload, &r);
                 })
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
  // A tenant loads its own by name from --adapter-dir, private to it.
  v1::LoadAdapterRequest own;
  own.set_name("tiny-llama-r4-mlp");
  ASSERT_TRUE(
      Call("sk-globex", [&](auto* ctx) { return admin->LoadAdapter(ctx, own, &status); }).ok());
  EXPECT_EQ(status.owner(), "globex");
  EXPECT_TRUE(list("sk-globex").contains("globex/tiny-llama-r4-mlp"));
  EXPECT_FALSE(list("sk-acme").contains("globex/tiny-llama-r4-mlp"));
  // Without a key: UNAUTHENTICATED for both services.
  grpc::ClientContext anonymous;
  v1::ListAdaptersResponse r;
  EXPECT_EQ(admin->ListAdapters(&anonymous, v1::ListAdaptersRequest(), &r).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(DaemonAdaptersTest, NamesCannotLeaveTheAdapterFolder) {
  fs::create_directories(work_ / "outside");
  fs::copy(dir_ / "tiny-llama-r4-mlp", work_ / "outside/escape", fs::copy_options::recursive);
  fs::create_directory_symlink(work_ / "outside/escape", dir_ / "escape");
  std::unique_ptr<Client> client = Connect("sk-acme");
  const GoldenCase c = Cases("tiny-llama-r4-mlp")[1];
  for (const std::string name : {"../outside/escape", "a/b", "..", ".", "/etc", "escape"}) {
    const absl::Status s = client->GenerateAndCollect(Greedy(c, name)).status();
    EXPECT_TRUE(s.code() == absl::StatusCode::kInvalidArgument ||
                s.code() == absl::StatusCode::kNotFound)
        << name << ": " << s;
    EXPECT_THAT(s.message(), ::testing::Not(HasSubstr(work_.string()))) << name;
  }
  EXPECT_TRUE(client->GenerateAndCollect(Greedy(c, "tiny-llama-r4-mlp")).ok());
}

// A file of an adapter folder symlinked to a file outside it is refused like a folder symlink, and
// what callers hear names neither the server's paths nor the bytes of the file that was opened.
TEST_F(DaemonAdaptersTest, FilesSymlinkedOutOfTheAdapterFolderAreRefused) {
  const fs::path outside = work_ / "outside";
  fs::create_directories(outside);
  const fs::path source = dir_ / "tiny-llama-r4-mlp";
  // A valid config and valid weights outside: following the links would load a working adapter.
  fs::copy(source / "adapter_config.json", outside / "adapter_config.json");
  fs::copy(source / "adapter_model.safetensors", outside / "adapter_model.safetensors");
  // Stands in for /etc/passwd: its first 8 bytes would be a safetensors "header length".
  const std::string secret = "root:x:0:0:root:/root:/bin/bash\nsecret-line-that-must-not-leak\n";
  std::ofstream(outside / "passwd") << secret;
  fs::create_directories(dir_ / "linked-config");
  fs::create_symlink(outside / "adapter_config.json", dir_ / "linked-config/adapter_config.json");
  fs::copy(source / "adapter_model.safetensors", dir_ / "linked-config/adapter_model.safetensors");
  fs::create_directories(dir_ / "linked-weights");
  fs::copy(source / "adapter_config.json", dir_ / "linked-weights/adapter_config.json");
  fs::create_symlink(outside / "adapter_model.safetensors",
                     dir_ / "linked-weights/adapter_model.safetensors");
  fs::create_directories(dir_ / "linked-passwd");
  fs::copy(source / "adapter_config.json", dir_ / "linked-passwd/adapter_config.json");
  fs::create_symlink(outside / "passwd", dir_ / "linked-passwd/adapter_model.safetensors");
  // Garbage in the folder itself is read, but not quoted back.
  fs::create_directories(dir_ / "garbage");
  fs::copy(source / "adapter_config.json", dir_ / "garbage/adapter_config.json");
  std::ofstream(dir_ / "garbage/adapter_model.safetensors") << secret;
  // A link that stays inside the folder is fine.
  fs::create_directories(dir_ / "linked-inside/blobs");
  fs::copy(source / "adapter_config.json", dir_ / "linked-inside/blobs/config");
  fs::create_symlink("blobs/config", dir_ / "linked-inside/adapter_config.json");
  fs::copy(source / "adapter_model.safetensors", dir_ / "linked-inside/adapter_model.safetensors");

  auto expect_quiet = [&](const std::string& message, const std::string& what) {
    EXPECT_THAT(message, ::testing::Not(HasSubstr(work_.string()))) << what;
    EXPECT_THAT(message, ::testing::Not(HasSubstr("/"))) << what;
    EXPECT_THAT(message, ::testing::Not(HasSubstr("header"))) << what;
    EXPECT_THAT(message, ::testing::Not(HasSubstr("root"))) << what;
  };
  std::unique_ptr<Client> client = Connect("sk-acme");
  const GoldenCase c = Cases("tiny-llama-r4-mlp")[1];
  const std::map<std::string, std::string> expected = {
      {"linked-config",
       "adapter linked-config: adapter_config.json leads outside the adapter "
       "folder (a symlink?)"},
      {"linked-weights",
       "adapter linked-weights: adapter_model.safetensors leads outside the "
       "adapter folder (a symlink?)"},
      {"linked-passwd",
       "adapter linked-passwd: adapter_model.safetensors leads outside the "
       "adapter folder (a symlink?)"},
      {"garbage", "adapter garbage: adapter_model.safetensors is not a valid safetensors file"}};
  for (const auto& [name, message] : expected) {
    const absl::Status s = client->GenerateAndCollect(Greedy(c, name)).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << name << ": " << s;
    EXPECT_EQ(s.message(), message) << name;
    expect_quiet(std::string(s.message()), name);
    // A tenant loading it by name through the Admin service hears the same.
    v1::LoadAdapterRequest load;
    load.set_name(name);
    v1::AdapterStatus status;
    const grpc::Status g =
        Call("sk-globex", [&](auto* ctx) { return Admin()->LoadAdapter(ctx, load, &status); });
    EXPECT_EQ(g.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << name;
    EXPECT_EQ(g.error_message(), message) << name;
  }
  // The failed lazy loads stay listed with their error: the same short reason.
  v1::ListAdaptersResponse listed;
  ASSERT_TRUE(Call("sk-ops", [&](auto* ctx) {
                return Admin()->ListAdapters(ctx, v1::ListAdaptersRequest(), &listed);
              }).ok());
  int failed = 0;
  for (const v1::AdapterStatus& a : listed.adapters()) {
    if (a.last_error().empty()) continue;
    ++failed;
    expect_quiet(a.last_error(), a.name());
  }
  EXPECT_EQ(failed, 4);
  EXPECT_TRUE(client->GenerateAndCollect(Greedy(c, "linked-inside")).ok());
}

TEST_F(DaemonAdaptersTest, MalformedAdaptersAreRefusedWhileTheDaemonServes) {
  auto make = [&](const std::string& name, const std::string& from, auto&& edit_config) {
    fs::copy(dir_ / from, dir_ / name, fs::copy_options::recursive);
    std::ifstream in(dir_ / name / "adapter_config.json");
    std::string config((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    in.close();
    std::ofstream(dir_ / name / "adapter_config.json") << edit_config(config);
  };
  make("dora", "tiny-llama-r4-mlp", [](std::string s) {
    return absl::StrReplaceAll(s, {{"\"use_dora\": false", "\"use_dora\": true"}});
  });
  make("wrong-rank", "tiny-llama-r4-mlp", [](std::string s) {
    return absl::StrReplaceAll(s, {{"\"r\": 4", "\"r\": 5"}});
  });
  make("missing-tensors", "tiny-llama-r4-mlp", [](std::string s) {
    return absl::StrReplaceAll(s, {{"\"gate_proj\",", "\"gate_proj\", \"q_proj\","}});
  });
  make("bad-json", "tiny-llama-r4-mlp", [](std::string) { return std::string("{\"r\": "); });
  // Targets only a module Llama lacks (GPT-2's c_attn); its tensors are the MLP's.
  make("no-such-module", "tiny-llama-r4-mlp", [](std::string s) {
    return absl::StrReplaceAll(
        s, {{"\"gate_proj\",", "\"c_attn\""}, {"\"up_proj\",", ""}, {"\"down_proj\"", ""}});
  });
  // Finite but far too large: every logit would be NaN.
  make("huge-alpha", "tiny-llama-r4-mlp", [](std::string s) {
    return absl::StrReplaceAll(s, {{"\"lora_alpha\": 4", "\"lora_alpha\": 1e38"}});
  });
  fs::create_directories(dir_ / "pickle");
  std::ofstream(dir_ / "pickle/adapter_config.json")
      << "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 4, \"target_modules\": [\"q_proj\"]}";
  std::ofstream(dir_ / "pickle/adapter_model.bin") << "not loaded";
  fs::copy(dir_ / "tiny-llama-r4-mlp", dir_ / "truncated", fs::copy_options::recursive);
  fs::resize_file(dir_ / "truncated/adapter_model.safetensors", 100);

  std::unique_ptr<Client> client = Connect("sk-acme");
  const GoldenCase c = Cases("tiny-llama-r4-mlp")[1];
  for (const std::string name : {"dora", "wrong-rank", "missing-tensors", "bad-json",
                                 "no-such-module", "huge-alpha", "pickle", "truncated"}) {
    const absl::Status s = client->GenerateAndCollect(Greedy(c, name)).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << name << ": " << s;
    EXPECT_THAT(s.message(), HasSubstr(name)) << name;
    // The daemon keeps serving, the base model and a good adapter alike.
    EXPECT_TRUE(client->GenerateAndCollect(Greedy(c, "")).ok());
    EXPECT_TRUE(client->GenerateAndCollect(Greedy(c, "tiny-llama-r4-mlp")).ok());
  }
}

TEST_F(DaemonAdaptersTest, ReloadAndUnloadUnderTrafficFailNoRequest) {
  std::unique_ptr<v1::Admin::Stub> admin = Admin();
  const std::string r8 = (dir_ / "tiny-llama-r8-all").string();
  const std::string r16 = (dir_ / "tiny-llama-r16-attn").string();
  v1::LoadAdapterRequest load;
  load.set_name("hot");
  load.set_path(r8);
  v1::AdapterStatus status;
  ASSERT_TRUE(Call("sk-ops", [&](auto* c) { return admin->LoadAdapter(c, load, &status); }).ok());
  const GoldenCase c8 = Cases("tiny-llama-r8-all")[2];
  const GoldenCase c16 = Cases("tiny-llama-r16-attn")[2];
  ASSERT_EQ(c8.prompt_ids, c16.prompt_ids);

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::vector<std::string> failures;
  absl::Mutex mu;
  std::vector<std::thread> traffic;
  for (int t = 0; t < 3; ++t) {
    traffic.emplace_back([&] {
      std::unique_ptr<Client> client = Connect("sk-acme");
      while (!stop.load()) {
        absl::StatusOr<GenerateOutput> out = client->GenerateAndCollect(Greedy(c8, "hot"));
        absl::MutexLock lock(&mu);
        if (!out.ok()) {
          failures.push_back(out.status().ToString());
          continue;
        }
        // A request runs on one version from start to end: its output is one reference's.
        const std::vector<int32_t>& got = out->samples[0].token_ids;
        const bool is8 = std::equal(got.begin(), got.begin() + 4, c8.greedy.begin());
        const bool is16 = std::equal(got.begin(), got.begin() + 4, c16.greedy.begin());
        if (!is8 && !is16) failures.push_back("output matches neither version");
        ++ok;
      }
    });
  }
  for (int i = 0; i < 6; ++i) {
    load.set_path(i % 2 == 0 ? r16 : r8);
    EXPECT_TRUE(
        Call("sk-ops", [&](auto* ctx) { return admin->LoadAdapter(ctx, load, &status); }).ok());
    absl::SleepFor(absl::Milliseconds(100));
  }
  stop = true;
  for (std::thread& t : traffic) t.join();
  EXPECT_THAT(failures, ::testing::IsEmpty());
  EXPECT_GT(ok.load(), 3);
  EXPECT_GE(status.version(), 7u);

  // Unload: refused while a stream uses it, or waits for the stream when asked to.
  std::unique_ptr<Client> client = Connect("sk-acme");
  absl::Notification streaming;
  absl::Status long_status;
  std::thread stream([&] {
    v1::GenerateRequest r = Greedy(c8, "hot");
    r.set_max_tokens(1500);
    long_status = client->Generate(r, [&](const v1::GenerateResponse&) {
      if (!streaming.HasBeenNotified()) streaming.Notify();
      return true;
    });
  });
  streaming.WaitForNotification();
  v1::UnloadAdapterRequest unload;
  unload.set_name("hot");
  v1::UnloadAdapterResponse unloaded;
  EXPECT_EQ(Call("sk-ops", [&](auto* ctx) { return admin->UnloadAdapter(ctx, unload, &unloaded); })
                .error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  unload.set_wait(true);
  EXPECT_TRUE(
      Call("sk-ops", [&](auto* ctx) { return admin->UnloadAdapter(ctx, unload, &unloaded); }).ok());
  stream.join();
  EXPECT_TRUE(long_status.ok()) << long_status;
  EXPECT_EQ(client->GenerateAndCollect(Greedy(c8, "hot")).status().code(),
            absl::StatusCode::kNotFound);

  absl::StatusOr<http_test::HttpReply> m = http_test::HttpGet(daemon_->metrics_port(), "/metrics");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_THAT(m->body, HasSubstr("tessera_adapter_loads_total"));
  EXPECT_THAT(m->body, HasSubstr("max_lora=\"4\""));
}

// The daemon with a loader that serves the folder "poisoned" (a copy of tiny-llama-r4-mlp) with
// every lora_B entry +-1e20, alternating by output row: weights the PEFT loader refuses, and that
// overflow the model. Every other folder loads as the daemon loads it.
class DaemonPoisonedAdapterTest : public DaemonAdaptersTest {
 protected:
  void ConfigureDaemon(DaemonOptions& o) override {
    fs::copy(dir_ / "tiny-llama-r4-mlp", dir_ / "poisoned", fs::copy_options::recursive);
    absl::StatusOr<ModelConfig> model = LoadModelConfig(o.model_dir);
    ASSERT_TRUE(model.ok()) << model.status();
    AdapterLoader peft = PeftAdapterLoader(*model, PeftLoadOptions{});
    o.adapter_loader = [peft](const fs::path& dir) -> absl::StatusOr<LoadedAdapter> {
      absl::StatusOr<LoadedAdapter> a = peft(dir);
      if (!a.ok() || dir.filename() != "poisoned") return a;
      auto weights = std::make_shared<LoraWeights>(*a->weights);
      for (auto& layer : weights->layers) {
        for (LoraPair& p : layer) {
          for (size_t i = 0; i < p.b.size(); ++i) p.b[i] = (i / p.rank) % 2 == 0 ? 1e20f : -1e20f;
        }
      }
      a->weights = std::move(weights);
      return a;
    };
  }
};

TEST_F(DaemonPoisonedAdapterTest, NonFiniteLogitsEndTheRequestWithInternalAndSpareTheOthers) {
  std::unique_ptr<Client> client = Connect("sk-acme");
  const std::vector<GoldenCase> base =
      LoadGoldenCases((kFixtures / "refs/tiny-llama.public.json").string());
  const std::vector<GoldenCase> mlp = Cases("tiny-llama-r4-mlp");
  // Base-model and healthy-adapter requests run while poisoned ones come and go.
  std::vector<std::thread> healthy;
  for (int i = 0; i < 4; ++i) {
    healthy.emplace_back([&, i] {
      const std::string adapter = i % 2 == 0 ? "" : "tiny-llama-r4-mlp";
      const GoldenCase& c = i % 2 == 0 ? base[2 + i / 2] : mlp[2 + i / 2];
      absl::StatusOr<GenerateOutput> out = client->GenerateAndCollect(Greedy(c, adapter));
      ASSERT_TRUE(out.ok()) << adapter << ": " << out.status();
      ExpectGreedyMatches(c, out->samples[0].token_ids, adapter.empty() ? "base" : adapter);
    });
  }
  for (int run = 0; run < 3; ++run) {
    int tokens = 0;
    const absl::Status s =
        client->Generate(Greedy(mlp[1], "poisoned"), [&](const v1::GenerateResponse& r) {
          for (const v1::SampleDelta& d : r.samples()) tokens += d.token_ids_size();
          return true;
        });
    EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
    EXPECT_THAT(s.message(), HasSubstr("non-finite logits in step"));
    EXPECT_THAT(s.message(), HasSubstr("adapter \"poisoned\""));
    EXPECT_EQ(tokens, 0);
  }
  for (std::thread& t : healthy) t.join();
}

}  // namespace
}  // namespace tessera
