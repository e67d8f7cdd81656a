// `tessera adapters`: manage the LoRA adapters of a running tesserad (tessera.v1.Admin).
//
//   tessera adapters load NAME [--path DIR] [--owner TENANT]
//   tessera adapters unload NAME [--owner TENANT] [--wait [--wait-timeout SECONDS]]
//   tessera adapters list [--json]
//   + the connection flags (connection_flags.h) on each
//
// load without --path loads <--adapter-dir>/NAME on the server; --path and --owner are for admin
// keys. unload refuses while requests use the adapter unless --wait, which waits for them (at most
// --wait-timeout, 0 = no limit; without --timeout its deadline is then --wait-timeout + 30 s, or
// none). list prints a table by default, the ListAdaptersResponse as JSON
// with --json. Exit codes as the other server commands: 0 done, 2 bad flags or input the server
// rejected (INVALID_ARGUMENT, NOT_FOUND, OUT_OF_RANGE), 1 any other failure; the gRPC code goes
// to stderr.
#ifndef TESSERA_CLIENT_ADAPTERS_COMMAND_H_
#define TESSERA_CLIENT_ADAPTERS_COMMAND_H_

#include <string>

#include "CLI/CLI.hpp"
#include "client/connection_flags.h"
#include "tessera/v1/admin.pb.h"

namespace tessera {

struct AdapterLoadOptions {
  ConnectionFlags connection;
  std::string name;
  std::string path;
  std::string owner;
};

struct AdapterUnloadOptions {
  ConnectionFlags connection;
  std::string name;
  std::string owner;
  bool wait = false;
  double wait_timeout_seconds = 0;  // with wait; 0 = no limit
};

struct AdapterListOptions {
  ConnectionFlags connection;
  bool json = false;
};

// Run the subcommands: output to stdout, errors to stderr; return the exit code.
int RunAdapterLoad(const AdapterLoadOptions& options);
int RunAdapterUnload(const AdapterUnloadOptions& options);
int RunAdapterList(const AdapterListOptions& options);

// The readable listing: a header and one aligned row per adapter (NAME, OWNER "-" for public,
// STATE, TIER, RANK, SIZE, REFS, SERVED, VERSION, DIGEST's first 12 characters), each line
// ending in "\n"; an adapter whose last load failed gets its error after its row's columns.
std::string FormatAdapterTable(const v1::ListAdaptersResponse& list);

void AddAdaptersCommand(CLI::App& app, int* exit_code);

}  // namespace tessera

#endif  // TESSERA_CLIENT_ADAPTERS_COMMAND_H_
