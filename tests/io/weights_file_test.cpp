// The torch.save reader on hand-built archives: what it reads, and how it refuses bad files.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <functional>

#include <unistd.h>

#include "common/error.h"
#include "io/state_dict.h"
#include "io/weights_file.h"
#include "io/weights_file_test_util.h"
#include "support/fixtures.h"

namespace disco::test {
namespace {

std::string tensor_bytes(const torch::Tensor& t) {
  auto c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), c.nbytes());
}

// Runs f, which must throw disco::CheckpointError (no other type, no crash) with a one-line
// message containing every word.
void expect_refused(const std::function<void()>& f, const std::vector<std::string>& words) {
  try {
    f();
    ADD_FAILURE() << "expected a CheckpointError, nothing was thrown";
  } catch (const CheckpointError& e) {
    std::string msg = e.what();
    std::printf("  refused: %s\n", msg.c_str());
    for (const auto& w : words) EXPECT_NE(msg.find(w), std::string::npos) << "'" << w << "' missing in: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected disco::CheckpointError, got another exception: " << e.what();
  }
}

void expect_refused_file(const std::string& path, const std::vector<std::string>& words) {
  expect_refused([&] { io::load_weights_file(path); }, words);
  expect_refused([&] { io::load_tensors(path); }, words);
}

// {'w': <tensor built by `body`>} in a zip with the given records.
std::string single_tensor_zip(const std::string& name, const std::function<void(PickleWriter&)>& body,
                              const std::map<std::string, std::string>& records) {
  PickleWriter p;
  p.proto().op('}').op('(').str("w");
  body(p);
  p.op('u').op('.');
  return write_zip(name, p.bytes(), records);
}

std::string floats(int64_t n) {
  return tensor_bytes(torch::arange(n, torch::kFloat));
}

TEST(Checkpoint, ReadsOrderedDictWithSharedStorageMixedDtypesAndMetadata) {
  PickleWriter p;
  p.proto().ordered_dict().op('q').raw(std::string(1, '\0')).op('(');
  p.str("a").tensor("FloatStorage", "0", 10, 2, {2, 3}, {3, 1});
  p.str("b").tensor("FloatStorage", "0", 10, 8, {2}, {1});
  p.str("h").tensor("HalfStorage", "1", 4, 0, {4}, {1});
  p.str("i").tensor("LongStorage", "2", 3, 0, {3}, {1});
  p.op('u');
  // state = {'_metadata': OrderedDict({'': {'version': 1}})}, applied with BUILD and dropped
  p.op('}').str("_metadata").ordered_dict().str("").op('}').str("version").integer(1).op('s').op('s').op('s');
  p.op('b').op('.');

  auto half = torch::tensor({1.5, -2.0, 0.25, 65504.0}).to(torch::kHalf);
  auto longs = torch::tensor({int64_t(1) << 40, int64_t(-7), int64_t(3)});
  std::string path = write_zip("good.pt", p.bytes(), {{"0", floats(10)}, {"1", tensor_bytes(half)}, {"2", tensor_bytes(longs)}});

  EXPECT_EQ(io::detect_file_kind(path), io::FileKind::TorchZip);
  io::TensorMap sd = io::load_weights_file(path);
  ASSERT_EQ(sd.keys(), (std::vector<std::string>{"a", "b", "h", "i"}));
  EXPECT_TRUE(torch::equal(sd["a"], torch::arange(2, 8, torch::kFloat).view({2, 3})));
  EXPECT_TRUE(torch::equal(sd["b"], torch::tensor({8.f, 9.f})));
  EXPECT_EQ(sd["h"].dtype(), torch::kHalf);
  EXPECT_TRUE(torch::equal(sd["h"], half));
  EXPECT_EQ(sd["i"].dtype(), torch::kLong);
  EXPECT_TRUE(torch::equal(sd["i"], longs));
  EXPECT_EQ(sd["a"].storage_offset(), 2);
  EXPECT_EQ(sd["b"].storage_offset(), 8);
}

TEST(Checkpoint, TensorsSharingAStorageInTheFileShareItAfterLoading) {
  PickleWriter p;
  p.proto().op('}').op('(');
  for (int k = 0; k < 4; ++k) p.str("t" + std::to_string(k)).tensor("FloatStorage", "0", 100, 25 * k, {5, 5}, {5, 1});
  p.op('u').op('.');
  std::string path = write_zip("shared.pt", p.bytes(), {{"0", floats(100)}});
  io::TensorMap sd = io::load_weights_file(path);
  ASSERT_EQ(sd.size(), 4u);
  const void* base = sd["t0"].storage().data_ptr().get();
  for (const auto& item : sd) {
    // One storage of exactly the record's size, adopted without a copy.
    EXPECT_EQ(item.value().storage().data_ptr().get(), base) << item.key();
    EXPECT_EQ(item.value().storage().nbytes(), 400u);
  }
  EXPECT_EQ(sd["t3"].data_ptr<float>(), static_cast<float*>(const_cast<void*>(base)) + 75);
  EXPECT_EQ(sd["t3"][4][4].item<float>(), 99.f);
}

TEST(Checkpoint, UnwrapsASingleInnerDictAndFlattensNestedDicts) {
  PickleWriter p;
  p.proto().op('}').str("state_dict").op('}').op('(');
  p.str("enc").op('}').str("w").tensor("FloatStorage", "0", 4, 0, {4}, {1}).op('s');
  p.str("b").tensor("FloatStorage", "0", 4, 1, {2}, {1});
  p.op('u').op('s').op('.');
  io::TensorMap sd = io::load_weights_file(write_zip("nested.pt", p.bytes(), {{"0", floats(4)}}));
  EXPECT_EQ(sd.keys(), (std::vector<std::string>{"enc.w", "b"}));
}

// open_clip's training checkpoints: {'epoch': 3, 'name': '...', 'state_dict': {...}}.
TEST(Checkpoint, TakesATrainingCheckpointsStateDictAlone) {
  PickleWriter p;
  p.proto().op('}').op('(').str("epoch").integer(3).str("name").str("run-1");
  p.str("state_dict").op('}').str("module.w").tensor("FloatStorage", "0", 4, 0, {4}, {1}).op('s');
  p.op('u').op('.');
  io::TensorMap sd = io::load_weights_file(write_zip("training.pt", p.bytes(), {{"0", floats(4)}}));
  EXPECT_EQ(sd.keys(), (std::vector<std::string>{"module.w"}));
  EXPECT_EQ(io::strip_module_prefix(sd).keys(), (std::vector<std::string>{"w"}));
}

TEST(Checkpoint, ReadsParametersSavedWithRebuildParameter) {
  std::string path = single_tensor_zip("param.pt", [](PickleWriter& p) {
    p.global("torch._utils", "_rebuild_parameter").op('(');
    p.tensor("FloatStorage", "0", 3, 0, {3}, {1}).op('\x88').ordered_dict().op('t').op('R');
  }, {{"0", floats(3)}});
  EXPECT_TRUE(torch::equal(io::load_weights_file(path)["w"], torch::arange(3, torch::kFloat)));
}

TEST(Checkpoint, ReadsBackWhatSaveCheckpointWrites) {
  // save_weights_file is torch::pickle_save: a Dict[str, Tensor] tagged with restore_type_tag.
  torch::manual_seed(0);
  io::TensorMap in;
  in.insert("z.weight", torch::randn({4, 3, 3, 3}));
  in.insert("a.bias", torch::randn({5}).to(torch::kHalf));
  in.insert("steps", torch::arange(7, torch::kLong));
  in.insert("scale", torch::full({}, 2.5));
  in.insert("transposed", torch::randn({3, 6}).t());          // non-contiguous
  in.insert("slice", torch::randn({10, 4}).slice(0, 2, 5));  // a view into a larger storage
  const std::string path = temp_dir() + "/saved.pt";
  io::save_weights_file(in, path);
  EXPECT_EQ(io::detect_file_kind(path), io::FileKind::TorchZip);
  EXPECT_FALSE(std::filesystem::exists(path + ".part" + std::to_string(::getpid())));
  const io::TensorMap out = io::load_weights_file(path);
  ASSERT_EQ(out.keys(), in.keys());  // same names, same order
  for (const auto& item : in) {
    const at::Tensor& t = out[item.key()];
    EXPECT_EQ(t.scalar_type(), item.value().scalar_type()) << item.key();
    EXPECT_EQ(t.sizes(), item.value().sizes()) << item.key();
    EXPECT_TRUE(torch::equal(t, item.value())) << item.key();
    EXPECT_EQ(t.storage().nbytes(), t.nbytes()) << item.key() << ": only its own elements are stored";
  }
}

TEST(Checkpoint, RestoreTypeTagOnlyLabelsADictOrList) {
  auto tagged = [](const std::function<void(PickleWriter&)>& value) {
    PickleWriter p;
    p.proto().global("torch.jit._pickle", "restore_type_tag");
    value(p);
    p.str("Dict[str, Tensor]").op('\x86').op('R').op('.');
    return p.bytes();
  };
  const std::string good = tagged([](PickleWriter& p) {
    p.op('}').op('(').str("w").tensor("FloatStorage", "0", 3, 0, {3}, {1}).op('u');
  });
  io::TensorMap sd = io::load_weights_file(write_zip("tagged.pt", good, {{"0", floats(3)}}));
  ASSERT_EQ(sd.size(), 1u);
  EXPECT_TRUE(torch::equal(sd["w"], torch::arange(3, torch::kFloat)));

  const std::string on_string = tagged([](PickleWriter& p) { p.str("echo pwned"); });
  expect_refused_file(write_zip("tag_string.pt", on_string, {}), {"restore_type_tag", "unexpected arguments"});
  PickleWriter one_arg;
  one_arg.proto().global("torch.jit._pickle", "restore_type_tag").op('}').op('\x85').op('R').op('.');
  expect_refused_file(write_zip("tag_one_arg.pt", one_arg.bytes(), {}), {"restore_type_tag", "unexpected arguments"});
  // Its module's other names stay refused.
  PickleWriter other;
  other.proto().global("torch.jit._pickle", "build_tensor_from_id").str("x").op('\x85').op('R').op('.');
  expect_refused_file(write_zip("jit_pickle_other.pt", other.bytes(), {}),
                      {"'torch.jit._pickle.build_tensor_from_id'", "refused"});
}

TEST(Checkpoint, SaveCheckpointSaysWhenItCannotWrite) {
  io::TensorMap in;
  in.insert("w", torch::zeros({2}));
  expect_refused([&] { io::save_weights_file(in, temp_dir() + "/no/such/folder/x.pt"); }, {"cannot write", "folder"});
}

TEST(Checkpoint, RefusesEmptyFile) {
  std::string path = write_file("empty.pt", "");
  EXPECT_EQ(io::detect_file_kind(path), io::FileKind::Unknown);
  expect_refused_file(path, {"empty.pt", "empty (0 bytes)", "download it again"});
}

TEST(Checkpoint, RefusesMissingFile) {
  expect_refused_file(temp_dir() + "/does_not_exist.pt", {"cannot open", "does_not_exist.pt"});
}

TEST(Checkpoint, RefusesWrongMagic) {
  expect_refused_file(write_file("magic.pt", std::string("\x01\x02\x03\x04\xff\xfe\x00\x10", 8)),
                      {"unknown format", "not a PyTorch zip archive"});
  expect_refused_file(write_file("text.pt", "version https://git-lfs.github.com/spec/v1\n"), {"text file"});
}

TEST(Checkpoint, RefusesHtmlPageSavedAsCheckpoint) {
  std::string path = write_file("page.pt", "\n<!DOCTYPE html>\n<html><head><title>Sign in</title></head></html>\n");
  EXPECT_EQ(io::detect_file_kind(path), io::FileKind::Unknown);
  expect_refused_file(path, {"HTML", "download it again"});
}

TEST(Checkpoint, RefusesLegacyTorchSaveAndSaysHowToConvert) {
  std::string header("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.\x80\x02M\xe9\x03.", 20);
  std::string path = write_file("legacy.pt", header);
  EXPECT_EQ(io::detect_file_kind(path), io::FileKind::LegacyTorchSave);
  expect_refused_file(path, {"pre-1.6", "torch.save(torch.load('old.pt'), 'new.pt')", "_use_new_zipfile_serialization"});
}

TEST(Checkpoint, RefusesTruncatedCopiesOfARealCheckpoint) {
  std::ifstream f(fixture_path("unet_cfgA.pt"), std::ios::binary);
  std::string full((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ASSERT_GT(full.size(), 1000u);
  for (size_t cut : {size_t(4), size_t(100), full.size() / 4, full.size() / 2, full.size() - 200, full.size() - 1}) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    std::string path = write_file("truncated_" + std::to_string(cut) + ".pt", full.substr(0, cut));
    expect_refused_file(path, {"truncated", "download it again"});
  }
}

TEST(Checkpoint, RefusesTruncatedPickle) {
  PickleWriter p;
  p.proto().op('}').op('(').str("w").tensor("FloatStorage", "0", 3, 0, {3}, {1}).op('u').op('.');
  for (size_t cut : {size_t(1), size_t(9), p.bytes().size() / 2, p.bytes().size() - 1}) {
    std::string path = write_zip("cut_pickle_" + std::to_string(cut) + ".pt", p.bytes().substr(0, cut), {{"0", floats(3)}});
    expect_refused_file(path, {"data.pkl", "truncated"});
  }
}

TEST(Checkpoint, RefusesCodeExecutingGlobals) {
  struct Case {
    std::string module, name;
  };
  for (const Case& c : {Case{"posix", "system"}, Case{"os", "system"}, Case{"builtins", "eval"},
                        Case{"__builtin__", "eval"}, Case{"torch", "load"}}) {
    PickleWriter p;
    p.proto().global(c.module, c.name).str("echo pwned").op('\x85').op('R').op('.');
    std::string path = write_zip(c.module + "_" + c.name + ".pt", p.bytes(), {});
    expect_refused_file(path, {"'" + c.module + "." + c.name + "'", "not a plain weights file", "refused"});
  }
}

TEST(Checkpoint, RefusesTensorRunningPastItsStorage) {
  std::string path = single_tensor_zip("past_end.pt", [](PickleWriter& p) {
    p.tensor("FloatStorage", "0", 10, 4, {2, 4}, {4, 1});  // last element 4 + 7 = 11 > 9
  }, {{"0", floats(10)}});
  expect_refused_file(path, {"past the end of storage '0'"});
  std::string huge = single_tensor_zip("overflow.pt", [](PickleWriter& p) {
    p.tensor("FloatStorage", "0", 10, 0, {3, 3}, {int64_t(1) << 62, 1});
  }, {{"0", floats(10)}});
  expect_refused_file(huge, {"past the end"});
  std::string negative = single_tensor_zip("negative.pt", [](PickleWriter& p) {
    p.tensor("FloatStorage", "0", 10, 9, {3}, {-1});
  }, {{"0", floats(10)}});
  expect_refused_file(negative, {"negative size or stride"});
}

TEST(Checkpoint, RefusesStorageRecordShorterThanNumelTimesElementSize) {
  std::string path = single_tensor_zip("short_record.pt", [](PickleWriter& p) {
    p.tensor("FloatStorage", "0", 10, 0, {10}, {1});
  }, {{"0", floats(9)}});
  expect_refused_file(path, {"storage '0'", "40 bytes", "36 bytes", "damaged"});
}

TEST(Checkpoint, RefusesMissingStorageRecord) {
  std::string path = single_tensor_zip("no_record.pt", [](PickleWriter& p) {
    p.tensor("FloatStorage", "7", 10, 0, {10}, {1});
  }, {{"0", floats(10)}});
  expect_refused_file(path, {"data/7", "lacks"});
}

TEST(Checkpoint, RefusesUnknownOpcode) {
  PickleWriter p;
  p.proto().op('}').raw("\xff").op('.');
  expect_refused_file(write_zip("opcode.pt", p.bytes(), {}), {"opcode 0xff", "byte 3", "refused"});
}

TEST(Checkpoint, RefusesDeepMarkNesting) {
  PickleWriter p;
  p.proto().raw(std::string(200000, '('));
  expect_refused_file(write_zip("marks.pt", p.bytes(), {}), {"MARK deeper than"});
}

TEST(Checkpoint, RefusesNonTensorEntriesAndNonDictTopObjects) {
  PickleWriter p;
  p.proto().op('}').op('(').str("w").tensor("FloatStorage", "0", 3, 0, {3}, {1}).str("epoch").integer(7).op('u').op('.');
  expect_refused_file(write_zip("epoch.pt", p.bytes(), {{"0", floats(3)}}), {"'epoch'", "an int"});
  PickleWriter list;
  list.proto().op(']').op('.');
  expect_refused_file(write_zip("list.pt", list.bytes(), {}), {"a list instead of a dict"});
}

TEST(Checkpoint, RefusesDictsReachedTwiceInsteadOfExpandingThem) {
  // d0 = {"t": tensor}; d(k+1) = {"a": dk, "b": dk}: 2^30 names if expanded.
  PickleWriter p;
  p.proto().op('}').str("t").tensor("FloatStorage", "0", 1, 0, {}, {}).op('s').op('q').raw(std::string(1, '\0'));
  auto memo = [](int k) { return std::string(1, static_cast<char>(k)); };
  for (int k = 0; k < 30; ++k) {
    p.op('}').str("a").op('h').raw(memo(k)).op('s');
    p.str("b").op('h').raw(memo(k)).op('s').op('q').raw(memo(k + 1));
  }
  p.op('.');
  expect_refused_file(write_zip("laughs.pt", p.bytes(), {{"0", floats(1)}}), {"same dict"});
  PickleWriter self;
  self.proto().op('}').op('q').raw(std::string(1, '\0')).str("me").op('h').raw(std::string(1, '\0')).op('s').op('.');
  expect_refused_file(write_zip("self.pt", self.bytes(), {}), {"same dict"});
}

TEST(Checkpoint, RefusesTorchScriptInLoadCheckpointButLoadTensorsReadsIt) {
  const auto& files = manifest().at("clip").at("files");
  ASSERT_FALSE(files.empty());
  std::string path = fixture_path(files.begin().key());
  EXPECT_EQ(io::detect_file_kind(path), io::FileKind::TorchScript);
  expect_refused([&] { io::load_weights_file(path); }, {"TorchScript", "load_torchscript"});
  EXPECT_GT(io::load_tensors(path).size(), 0u);
  expect_refused([&] { io::load_torchscript(fixture_path("unet_cfgA.pt")); }, {"not TorchScript"});
}

}  // namespace
}  // namespace disco::test
