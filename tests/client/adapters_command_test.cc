#include "client/adapters_command.h"

#include <string>

#include "gtest/gtest.h"

namespace tessera {
namespace {

TEST(FormatAdapterTableTest, AlignsColumnsAndMarksPublicAndFailedAdapters) {
  v1::ListAdaptersResponse list;
  v1::AdapterStatus* a = list.add_adapters();
  a->set_name("sql");
  a->set_state("host");
  a->set_tier("host");
  a->set_rank(16);
  a->set_bytes(2'500'000);
  a->set_refcount(3);
  a->set_served(120);
  a->set_version(7);
  a->set_digest("0123456789abcdef0123");
  v1::AdapterStatus* b = list.add_adapters();
  b->set_name("support-bot");
  b->set_owner("acme");
  b->set_state("failed");
  b->set_tier("disk");
  b->set_last_error("adapter support-bot: rank 128 is above --max-lora-rank 64");
  EXPECT_EQ(FormatAdapterTable(list),
            "NAME         OWNER  STATE   TIER  RANK  SIZE    REFS  SERVED  VERSION  DIGEST\n"
            "sql          -      host    host  16    2.5 MB  3     120     7        0123456789ab\n"
            "support-bot  acme   failed  disk  0     0 B     0     0       0                      "
            "error: adapter support-bot: rank 128 is above --max-lora-rank 64\n");
}

TEST(FormatAdapterTableTest, EmptyListIsTheHeaderAlone) {
  EXPECT_EQ(FormatAdapterTable({}),
            "NAME  OWNER  STATE  TIER  RANK  SIZE  REFS  SERVED  VERSION  DIGEST\n");
}

}  // namespace
}  // namespace tessera
