// `disco inspect` as a user runs it: exit status, stdout, stderr.
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <sys/wait.h>

#include "support/fixtures.h"

namespace {

struct MergedOutput {
  int status;
  std::string out;
};

// Runs the built binary through the shell; stderr is folded into the output after a marker.
MergedOutput run_merged(const std::string& args) {
  std::string cmd = std::string(DISCO_BINARY) + " " + args + " 2>&1";
  MergedOutput r{-1, ""};
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) r.out.append(buf.data(), n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string inspect_temp_file(const std::string& name, const std::string& bytes) {
  auto path = std::filesystem::temp_directory_path() / ("disco_inspect_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path.string();
}

}  // namespace

TEST(InspectCli, DescribesTheTinyUNetAndListsTensors) {
  MergedOutput r = run_merged("inspect " + disco::test::fixture_path("unet_cfgA.pt") + " --tensors");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("guided-diffusion UNet"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("time_embed.0.weight [128, 32] float32"), std::string::npos) << r.out;
}

TEST(InspectCli, DescribesCLIPFixture) {
  MergedOutput r = run_merged("inspect " + disco::test::fixture_path("clip_vit_tiny.pt"));
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("CLIP"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("float16"), std::string::npos) << r.out;
}

TEST(InspectCli, DamagedOrUnknownFilesExitOneWithOneLine) {
  for (const auto& [name, bytes] : std::vector<std::pair<std::string, std::string>>{
           {"empty.pt", ""},
           {"page.pt", "<!DOCTYPE html><html><body>Not found</body></html>"},
           {"junk.pt", std::string(1000, '\x42')}}) {
    std::string path = inspect_temp_file(name, bytes);
    MergedOutput r = run_merged("inspect " + path);
    EXPECT_EQ(r.status, 1) << name << ": " << r.out;
    EXPECT_EQ(r.out.rfind("error: ", 0), 0u) << name << ": " << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << name << ": " << r.out;
    std::filesystem::remove(path);
  }
  MergedOutput missing = run_merged("inspect /nonexistent/file.pt");
  EXPECT_EQ(missing.status, 1) << missing.out;
}

TEST(InspectCli, UsageErrorExitsTwo) {
  MergedOutput r = run_merged("inspect");
  EXPECT_EQ(r.status, 2) << r.out;
}
