// DD's cut schedule strings parsed by a grammar, never evaluated (dd-spec §2.7).
#include "disco/schedule_string.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace disco {
namespace {

std::string error_of(const std::string& text, bool cut = false) {
  try {
    if (cut) {
      parse_cut_schedule(text, "cut_overview");
    } else {
      parse_schedule_string(text, "cut_overview");
    }
  } catch (const SettingsError& e) {
    return e.what();
  }
  return "";
}

TEST(ScheduleString, ParsesDDDefaults) {
  auto overview = parse_cut_schedule("[12]*400+[4]*600", "cut_overview");
  ASSERT_EQ(overview.size(), 1000u);
  EXPECT_EQ(overview[0], 12);
  EXPECT_EQ(overview[399], 12);
  EXPECT_EQ(overview[400], 4);
  EXPECT_EQ(overview[999], 4);
  auto gray = parse_cut_schedule("[0.2]*400+[0]*600", "cut_icgray_p");
  EXPECT_DOUBLE_EQ(gray[399], 0.2);
  EXPECT_EQ(gray[400], 0);
  auto pow = parse_cut_schedule("[1]*1000", "cut_ic_pow");
  EXPECT_EQ(pow.size(), 1000u);
  EXPECT_EQ(pow[500], 1);
}

TEST(ScheduleString, ParsesPixelArtOverride) {
  auto v = parse_cut_schedule(
      "[0.87]*100+[0.78]*50+[0.73]*50+[0.64]*60+[0.56]*40+[0.50]*50+[0.33]*100+[0.19]*150+[0]*400", "cut_icgray_p");
  ASSERT_EQ(v.size(), 1000u);
  EXPECT_DOUBLE_EQ(v[99], 0.87);
  EXPECT_DOUBLE_EQ(v[100], 0.78);
  EXPECT_DOUBLE_EQ(v[599], 0.19);
  EXPECT_EQ(v[600], 0);
}

TEST(ScheduleString, AcceptsWhitespaceListsAndPythonForms) {
  EXPECT_EQ(parse_schedule_string("  [ 12 ] * 2 +\t[4]*1 ", "x"), (std::vector<double>{12, 12, 4}));
  EXPECT_EQ(parse_schedule_string("[1,2,3]", "x"), (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(parse_schedule_string("[1, 2, 3,]", "x"), (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(parse_schedule_string("2*[5]", "x"), (std::vector<double>{5, 5}));
  EXPECT_EQ(parse_schedule_string("([1]+[2])*2", "x"), (std::vector<double>{1, 2, 1, 2}));
  EXPECT_EQ(parse_schedule_string("[1]*2*3", "x").size(), 6u);
  EXPECT_EQ(parse_schedule_string("[-0.5, +1e-2, .5, 5., 1_000]", "x"),
            (std::vector<double>{-0.5, 0.01, 0.5, 5.0, 1000}));
  EXPECT_EQ(parse_schedule_string("[7]*0+[1]", "x"), (std::vector<double>{1}));  // Python: list * 0 == []
  EXPECT_TRUE(parse_schedule_string("[]", "x").empty());
}

TEST(ScheduleString, RejectsCodeAndNamesTheSettingAndPosition) {
  std::string e = error_of("__import__('os')");
  EXPECT_NE(e.find("cut_overview"), std::string::npos) << e;
  EXPECT_NE(e.find("position 0"), std::string::npos) << e;
  EXPECT_NE(error_of("[1]*1000+__import__('os').system('ls')").find("position 9"), std::string::npos);
  EXPECT_NE(error_of("[print(1)]").find("position 1"), std::string::npos);
  EXPECT_NE(error_of("[1]*len('a')").find("position 4"), std::string::npos);
}

TEST(ScheduleString, RejectsMalformedExpressions) {
  EXPECT_NE(error_of("[12]*400+[4]*60x").find("position 15"), std::string::npos) << error_of("[12]*400+[4]*60x");
  EXPECT_NE(error_of("[12]*400+").find("ends too early"), std::string::npos);
  EXPECT_NE(error_of("[12*400").find("position 3"), std::string::npos);
  EXPECT_NE(error_of("[[1]]*1000").find("nested"), std::string::npos);
  EXPECT_NE(error_of("[1]*[2]").find("two lists"), std::string::npos);
  EXPECT_NE(error_of("[1]+2").find("a list and a number"), std::string::npos);
  EXPECT_NE(error_of("[1]*2.5").find("integer"), std::string::npos);
  EXPECT_NE(error_of("[1]**2").find("power"), std::string::npos);
  EXPECT_NE(error_of("12").find("not a list"), std::string::npos);
  EXPECT_NE(error_of("").find("empty"), std::string::npos);
  EXPECT_NE(error_of("[1,,2]").find("position 3"), std::string::npos);
  EXPECT_NE(error_of("[1]*1000000000").find("too large"), std::string::npos);
  EXPECT_NE(error_of("[1]*999999999").find("1000000 entries"), std::string::npos);
}

TEST(ScheduleString, CutSchedulesNeedAThousandEntries) {
  std::string e = error_of("[12]*400+[4]*500", true);
  EXPECT_NE(e.find("900 entries"), std::string::npos) << e;
  EXPECT_NE(e.find("at least 1000"), std::string::npos) << e;
  EXPECT_EQ(parse_cut_schedule("[1]*1200", "cut_ic_pow").size(), 1200u);  // extra entries are never read, as in DD
}

}  // namespace
}  // namespace disco
