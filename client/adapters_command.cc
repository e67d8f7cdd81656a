#include "client/adapters_command.h"

#include <algorithm>
#include <iostream>
#include <memory>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "adapters/adapter_name.h"
#include "google/protobuf/util/json_util.h"

namespace tessera {
namespace {

// Deadlines a command gets without --timeout: a load reads and checks the adapter's files.
constexpr double kLoadTimeoutSeconds = 300;
constexpr double kCallTimeoutSeconds = 30;

std::string HumanBytes(int64_t bytes) {
  if (bytes < 1000) return absl::StrCat(bytes, " B");
  if (bytes < 1000 * 1000) return absl::StrFormat("%.1f kB", bytes / 1e3);
  if (bytes < 1000 * 1000 * 1000) return absl::StrFormat("%.1f MB", bytes / 1e6);
  return absl::StrFormat("%.2f GB", bytes / 1e9);
}

std::string OwnerLabel(const std::string& owner) { return owner.empty() ? "-" : owner; }

CLI::Validator NonNegativeSeconds() {
  return CLI::Validator(
      [](const std::string& value) -> std::string {
        double seconds;
        return absl::SimpleAtod(value, &seconds) && seconds >= 0 ? "" : "must be seconds >= 0";
      },
      "SECONDS");
}

}  // namespace

std::string FormatAdapterTable(const v1::ListAdaptersResponse& list) {
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "OWNER", "STATE", "TIER", "RANK", "SIZE", "REFS", "SERVED", "VERSION", "DIGEST"}};
  for (const v1::AdapterStatus& a : list.adapters()) {
    rows.push_back({a.name(), OwnerLabel(a.owner()), a.state(), a.tier(), absl::StrCat(a.rank()),
                    HumanBytes(a.bytes()), absl::StrCat(a.refcount()), absl::StrCat(a.served()),
                    absl::StrCat(a.version()), a.digest().substr(0, 12)});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::string out;
  for (size_t r = 0; r < rows.size(); ++r) {
    std::string line;
    for (size_t c = 0; c < rows[r].size(); ++c) {
      absl::StrAppend(&line, rows[r][c], std::string(width[c] - rows[r][c].size() + 2, ' '));
    }
    if (r > 0 && !list.adapters(static_cast<int>(r - 1)).last_error().empty()) {
      absl::StrAppend(&line, "error: ", list.adapters(static_cast<int>(r - 1)).last_error());
    }
    line.erase(line.find_last_not_of(' ') + 1);
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

int RunAdapterLoad(const AdapterLoadOptions& o) {
  // A name the server would refuse is refused here, without a connection.
  if (absl::Status s = ValidateAdapterName(o.name); !s.ok()) return ReportError("adapters load", s);
  absl::StatusOr<std::unique_ptr<Client>> client = ConnectFromFlags(o.connection);
  if (!client.ok()) return ReportError("adapters load", client.status());
  absl::StatusOr<v1::AdapterStatus> a = (*client)->LoadAdapter(o.name, o.path, o.owner);
  if (!a.ok()) return ReportError("adapters load", a.status());
  std::cout << absl::StrFormat("loaded %s (owner %s): rank %d, %s, version %d, sha256 %s\n",
                               a->name(), OwnerLabel(a->owner()), a->rank(), HumanBytes(a->bytes()),
                               a->version(), a->digest());
  std::cout.flush();
  return std::cout.good() ? 0 : 1;
}

int RunAdapterUnload(const AdapterUnloadOptions& o) {
  if (absl::Status s = ValidateAdapterName(o.name); !s.ok()) {
    return ReportError("adapters unload", s);
  }
  absl::StatusOr<std::unique_ptr<Client>> client = ConnectFromFlags(o.connection);
  if (!client.ok()) return ReportError("adapters unload", client.status());
  absl::Status s = (*client)->UnloadAdapter(o.name, o.owner, o.wait,
                                            absl::Seconds(o.wait ? o.wait_timeout_seconds : 0));
  if (!s.ok()) return ReportError("adapters unload", s);
  std::cout << "unloaded " << o.name << " (owner " << OwnerLabel(o.owner) << ")\n";
  std::cout.flush();
  return std::cout.good() ? 0 : 1;
}

int RunAdapterList(const AdapterListOptions& o) {
  absl::StatusOr<std::unique_ptr<Client>> client = ConnectFromFlags(o.connection);
  if (!client.ok()) return ReportError("adapters list", client.status());
  absl::StatusOr<v1::ListAdaptersResponse> list = (*client)->ListAdapters();
  if (!list.ok()) return ReportError("adapters list", list.status());
  if (o.json) {
    google::protobuf::util::JsonPrintOptions print;
    print.add_whitespace = true;
    print.always_print_primitive_fields = true;  // a zero refcount is information
    print.preserve_proto_field_names = true;
    std::string json;
    if (auto s = google::protobuf::util::MessageToJsonString(*list, &json, print); !s.ok()) {
      return ReportError("adapters list", absl::InternalError(std::string(s.message())));
    }
    std::cout << json;
  } else {
    std::cout << FormatAdapterTable(*list);
  }
  std::cout.flush();
  return std::cout.good() ? 0 : 1;
}

void AddAdaptersCommand(CLI::App& app, int* exit_code) {
  CLI::App* adapters =
      app.add_subcommand("adapters", "Load, unload and list a tesserad's LoRA adapters");
  adapters->require_subcommand(1);

  auto load = std::make_shared<AdapterLoadOptions>();
  CLI::App* load_cmd = adapters->add_subcommand(
      "load", "Load (or reload) an adapter: from the server's --adapter-dir, or --path");
  AddConnectionFlags(*load_cmd, &load->connection, kLoadTimeoutSeconds);
  load_cmd->add_option("name", load->name, "Adapter name")->required();
  load_cmd->add_option("--path", load->path, "Adapter folder on the server (admin keys)");
  load_cmd->add_option("--owner", load->owner, "Owning tenant (admin keys; default: public)");
  load_cmd->callback([load, exit_code] { *exit_code = RunAdapterLoad(*load); });

  auto unload = std::make_shared<AdapterUnloadOptions>();
  CLI::App* unload_cmd = adapters->add_subcommand(
      "unload", "Unload an adapter (refused while requests use it, unless --wait)");
  AddConnectionFlags(*unload_cmd, &unload->connection, kCallTimeoutSeconds);
  unload_cmd->add_option("name", unload->name, "Adapter name")->required();
  unload_cmd->add_option("--owner", unload->owner, "Owning tenant (admin keys; default: public)");
  CLI::Option* wait = unload_cmd->add_flag(
      "--wait", unload->wait,
      "Refuse new requests for it and wait for those in flight (without --timeout, the "
      "deadline is then --wait-timeout + 30 s, or none)");
  unload_cmd
      ->add_option("--wait-timeout", unload->wait_timeout_seconds,
                   "With --wait: seconds to wait at most, 0 = no limit")
      ->check(NonNegativeSeconds())
      ->needs(wait)
      ->capture_default_str();
  CLI::Option* timeout = unload_cmd->get_option("--timeout");
  unload_cmd->callback([unload, timeout, exit_code] {
    // Without --timeout, a waiting unload gets a deadline past its wait rather than the default.
    if (unload->wait && timeout->count() == 0) {
      unload->connection.timeout_seconds =
          unload->wait_timeout_seconds > 0 ? unload->wait_timeout_seconds + kCallTimeoutSeconds : 0;
    }
    *exit_code = RunAdapterUnload(*unload);
  });

  auto list = std::make_shared<AdapterListOptions>();
  CLI::App* list_cmd =
      adapters->add_subcommand("list", "List the adapters this key may see, with their state");
  AddConnectionFlags(*list_cmd, &list->connection, kCallTimeoutSeconds);
  list_cmd->add_flag("--json", list->json, "Print the ListAdaptersResponse as JSON");
  list_cmd->callback([list, exit_code] { *exit_code = RunAdapterList(*list); });
}

}  // namespace tessera
