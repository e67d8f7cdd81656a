// http_streams_bench: many concurrent streamed responses through tesserad's HTTP server, in one
// process on loopback. One producer thread plays the scheduler: every --interval-ms it writes one
// SSE event (an OpenAI-sized chunk) to every open stream, --tokens times, then `data: [DONE]`.
// --streams clients (Boost.Asio, two threads) read them to the end. Prints the thread count and
// RSS before, with every stream open, and after, and the time it took; the server runs on
// --io-threads threads however many streams are open.
//
//   http_streams_bench [--streams 1000] [--tokens 100] [--interval-ms 20] [--io-threads 4]
#include <sys/resource.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "server/http/http_server.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

int NumThreads() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

double RssMiB() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return -1;
}

// One client: connect, GET /stream, read the chunked response whole.
class Client : public std::enable_shared_from_this<Client> {
 public:
  Client(asio::io_context& io, int port, std::atomic<int>& done, std::atomic<int>& failed)
      : stream_(io), port_(port), done_(done), failed_(failed) {}
  void Run() {
    req_ = {http::verb::get, "/stream", 11};
    req_.set(http::field::host, "127.0.0.1");
    stream_.async_connect(
        asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port_)),
        [self = shared_from_this()](beast::error_code ec) {
          if (ec) return self->Fail();
          http::async_write(self->stream_, self->req_, [self](beast::error_code ec, size_t) {
            if (ec) return self->Fail();
            self->parser_.body_limit(64 << 20);
            http::async_read(self->stream_, self->buffer_, self->parser_,
                             [self](beast::error_code ec, size_t) {
                               if (ec) return self->Fail();
                               self->done_.fetch_add(1);
                             });
          });
        });
  }

 private:
  void Fail() { failed_.fetch_add(1); }
  beast::tcp_stream stream_;
  int port_;
  std::atomic<int>& done_;
  std::atomic<int>& failed_;
  http::request<http::empty_body> req_;
  beast::flat_buffer buffer_;
  http::response_parser<http::string_body> parser_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("http_streams_bench: concurrent SSE streams through the HTTP server");
  int streams = 1000, tokens = 100, interval_ms = 20, io_threads = 4;
  app.add_option("--streams", streams)->capture_default_str();
  app.add_option("--tokens", tokens)->capture_default_str();
  app.add_option("--interval-ms", interval_ms)->capture_default_str();
  app.add_option("--io-threads", io_threads)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  // Two descriptors per stream in this process (client and server side).
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  nofile.rlim_cur = nofile.rlim_max;
  setrlimit(RLIMIT_NOFILE, &nofile);

  absl::Mutex mu;
  std::vector<std::shared_ptr<tessera::HttpResponder>> open;
  tessera::HttpRouter router;
  router.AddAsync("GET", "/stream",
                  [&](const tessera::HttpRequest&, std::shared_ptr<tessera::HttpResponder> r) {
                    r->BeginStream(200, tessera::kEventStreamType, {});
                    absl::MutexLock lock(&mu);
                    open.push_back(std::move(r));
                  });
  tessera::HttpServerOptions options;
  options.io_threads = io_threads;
  options.max_connections = streams + 16;
  tessera::HttpServer server(std::move(router), options);
  if (absl::Status s = server.Start("127.0.0.1", 0); !s.ok()) {
    std::fprintf(stderr, "http_streams_bench: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  const int threads_before = NumThreads();
  const double rss_before = RssMiB();

  asio::io_context io;
  std::atomic<int> done{0}, failed{0};
  const absl::Time start = absl::Now();
  for (int i = 0; i < streams; ++i)
    std::make_shared<Client>(io, server.port(), done, failed)->Run();
  std::vector<std::thread> client_threads;
  for (int i = 0; i < 2; ++i) client_threads.emplace_back([&io] { io.run(); });
  while (true) {
    absl::MutexLock lock(&mu);
    if (static_cast<int>(open.size()) + failed.load() >= streams) break;
    mu.Unlock();
    absl::SleepFor(absl::Milliseconds(5));
    mu.Lock();
  }
  const absl::Duration connect_time = absl::Now() - start;
  const int threads_open = NumThreads();
  const double rss_open_start = RssMiB();
  double rss_peak = rss_open_start;
  // An OpenAI chat chunk of one token, as tesserad sends it.
  const std::string event =
      "data: {\"id\":\"chatcmpl-0123456789abcdef0123456789abcdef\",\"object\":\"chat.completion."
      "chunk\",\"created\":1796458747,\"model\":\"tiny-llama\",\"choices\":[{\"index\":0,\"delta\":"
      "{\"content\":\" token\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n";
  std::vector<std::shared_ptr<tessera::HttpResponder>> all;
  {
    absl::MutexLock lock(&mu);
    all = open;
  }
  const absl::Time produce_start = absl::Now();
  for (int t = 0; t < tokens; ++t) {
    for (auto& r : all) r->Write(event);
    absl::SleepFor(absl::Milliseconds(interval_ms));
    if (t % 10 == 0) rss_peak = std::max(rss_peak, RssMiB());
  }
  for (auto& r : all) {
    r->Write("data: [DONE]\n\n");
    r->End();
  }
  while (done.load() + failed.load() < streams) absl::SleepFor(absl::Milliseconds(5));
  const absl::Duration total = absl::Now() - start;
  const absl::Duration produce = absl::Now() - produce_start;
  all.clear();
  {
    absl::MutexLock lock(&mu);
    open.clear();
  }
  io.stop();
  for (auto& t : client_threads) t.join();
  std::printf("streams %d (completed %d, failed %d), %d events each every %d ms\n", streams,
              done.load(), failed.load(), tokens, interval_ms);
  std::printf(
      "server io threads %d; process threads: before %d, with all streams open %d "
      "(2 client threads, this one)\n",
      io_threads, threads_before, threads_open);
  std::printf("RSS MiB: before %.1f, all open %.1f, peak while streaming %.1f, after %.1f\n",
              rss_before, rss_open_start, rss_peak, RssMiB());
  std::printf("time: all connected %.3f s, streaming %.3f s (ideal %.3f s), total %.3f s\n",
              absl::ToDoubleSeconds(connect_time), absl::ToDoubleSeconds(produce),
              tokens * interval_ms / 1000.0, absl::ToDoubleSeconds(total));
  server.Stop();
  return failed.load() == 0 ? 0 : 1;
}
