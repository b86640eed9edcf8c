// Settings: DD v5.7's defaults (dd-spec §2), DD's saved settings files (§12), merging, validation
// with clear errors, derived values (§2.9) and the save/load round trip.
#include "disco/settings.h"

#include <cstdio>
#include <fstream>
#include <functional>

#include <gtest/gtest.h>

#include "common/error.h"
#include "disco/settings_yaml.h"

namespace disco {
namespace {

using json = nlohmann::json;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const SettingsError& e) {
    return e.what();
  }
  return "";
}

std::string merge_error(const json& j) {
  return error_of([&] { merge_settings(Settings{}, j, "test"); });
}

// A settings file as DD v5.7 writes it (dd-spec §12): indent 4, string keys for the prompt dict,
// the run seed, the unrounded size, the cut schedules as strings, and the animation, 3D and video
// keys a still image does not use.
const char* kDDSettingsFile = R"DD({
    "text_prompts": {
        "0": [
            "A beautiful painting of a singular lighthouse, shining its light across a tumultuous sea of blood by greg rutkowski and thomas kinkade, Trending on artstation.",
            "yellow color scheme"
        ],
        "100": [
            "This set of prompts start at frame 100",
            "This prompt has weight five:5"
        ]
    },
    "image_prompts": {},
    "clip_guidance_scale": 5000,
    "tv_scale": 0,
    "range_scale": 150,
    "sat_scale": 0,
    "cutn_batches": 4,
    "max_frames": 10000,
    "interp_spline": "Linear",
    "init_image": null,
    "init_scale": 1000,
    "skip_steps": 10,
    "frames_scale": 1500,
    "frames_skip_steps": "60%",
    "perlin_init": false,
    "perlin_mode": "mixed",
    "skip_augs": false,
    "randomize_class": true,
    "clip_denoised": false,
    "clamp_grad": true,
    "clamp_max": 0.05,
    "seed": 2881720343,
    "fuzzy_prompt": false,
    "rand_mag": 0.05,
    "eta": 0.8,
    "width": 1280,
    "height": 768,
    "diffusion_model": "512x512_diffusion_uncond_finetune_008100",
    "use_secondary_model": true,
    "steps": 250,
    "diffusion_steps": 1000,
    "diffusion_sampling_mode": "ddim",
    "ViTB32": true,
    "ViTB16": true,
    "ViTL14": false,
    "ViTL14_336px": false,
    "RN101": false,
    "RN50": true,
    "RN50x4": false,
    "RN50x16": false,
    "RN50x64": false,
    "ViTB32_laion2b_e16": false,
    "ViTB32_laion400m_e31": false,
    "ViTB32_laion400m_32": false,
    "ViTB32quickgelu_laion400m_e31": false,
    "ViTB32quickgelu_laion400m_e32": false,
    "ViTB16_laion400m_e31": false,
    "ViTB16_laion400m_e32": false,
    "RN50_yffcc15m": false,
    "RN50_cc12m": false,
    "RN50_quickgelu_yfcc15m": false,
    "RN50_quickgelu_cc12m": false,
    "RN101_yfcc15m": false,
    "RN101_quickgelu_yfcc15m": false,
    "cut_overview": "[12]*400+[4]*600",
    "cut_innercut": "[4]*400+[12]*600",
    "cut_ic_pow": "[1]*1000",
    "cut_icgray_p": "[0.2]*400+[0]*600",
    "key_frames": true,
    "angle": "0:(0)",
    "zoom": "0: (1), 10: (1.05)",
    "translation_x": "0: (0)",
    "translation_y": "0: (0)",
    "translation_z": "0: (10.0)",
    "rotation_3d_x": "0: (0)",
    "rotation_3d_y": "0: (0)",
    "rotation_3d_z": "0: (0)",
    "midas_depth_model": "dpt_large",
    "midas_weight": 0.3,
    "near_plane": 200,
    "far_plane": 10000,
    "fov": 40,
    "padding_mode": "border",
    "sampling_mode": "bicubic",
    "video_init_path": "init.mp4",
    "extract_nth_frame": 2,
    "video_init_seed_continuity": false,
    "turbo_mode": false,
    "turbo_steps": "3",
    "turbo_preroll": 10,
    "use_horizontal_symmetry": false,
    "use_vertical_symmetry": false,
    "transformation_percent": [
        0.09
    ],
    "video_init_steps": 100,
    "video_init_clip_guidance_scale": 1000,
    "video_init_tv_scale": 0.1,
    "video_init_range_scale": 150,
    "video_init_sat_scale": 300,
    "video_init_cutn_batches": 4,
    "video_init_skip_steps": 50,
    "video_init_frames_scale": 15000,
    "video_init_frames_skip_steps": "70%",
    "video_init_flow_warp": true,
    "video_init_flow_blend": 0.999,
    "video_init_check_consistency": false,
    "video_init_blend_mode": "optical flow"
})DD";

TEST(Settings, DefaultsMatchDDv57) {
  Settings s;
  // §2.1
  EXPECT_EQ(s.diffusion_model, "512x512_diffusion_uncond_finetune_008100");
  EXPECT_TRUE(s.use_secondary_model);
  EXPECT_EQ(s.diffusion_sampling_mode, SamplingMode::Ddim);
  EXPECT_TRUE(s.use_checkpoint);
  EXPECT_FALSE(s.check_model_SHA);
  EXPECT_EQ(s.clip_model_names(), (std::vector<std::string>{"ViT-B/32", "ViT-B/16", "RN50"}));
  EXPECT_FALSE(s.ViTL14 || s.ViTL14_336px || s.RN101 || s.RN50x4 || s.RN50x16 || s.RN50x64);
  // §2.2
  EXPECT_EQ(s.batch_name, "TimeToDisco");
  EXPECT_EQ(s.steps, 250);
  EXPECT_EQ(s.width_height(), (std::array<int, 2>{1280, 768}));
  EXPECT_EQ(s.width_height_for_256x256_models, (std::array<int, 2>{512, 448}));
  EXPECT_EQ(s.clip_guidance_scale, 5000);
  EXPECT_EQ(s.tv_scale, 0);
  EXPECT_EQ(s.range_scale, 150);
  EXPECT_EQ(s.sat_scale, 0);
  EXPECT_EQ(s.cutn_batches, 4);
  EXPECT_FALSE(s.skip_augs);
  // §2.3
  EXPECT_FALSE(s.init_image.has_value());
  EXPECT_EQ(s.init_scale, 1000);
  EXPECT_EQ(s.skip_steps, 10);
  // §2.6
  EXPECT_EQ(s.intermediate_saves.count, 0);
  EXPECT_FALSE(s.intermediate_saves.steps.has_value());
  EXPECT_TRUE(s.intermediates_in_subfolder);
  EXPECT_FALSE(s.perlin_init);
  EXPECT_EQ(s.perlin_mode, PerlinMode::Mixed);
  EXPECT_EQ(s.set_seed, "random_seed");
  EXPECT_FALSE(s.seed.has_value());
  EXPECT_EQ(s.eta, 0.8);
  EXPECT_TRUE(s.clamp_grad);
  EXPECT_EQ(s.clamp_max, 0.05);
  EXPECT_TRUE(s.randomize_class);
  EXPECT_FALSE(s.clip_denoised);
  EXPECT_FALSE(s.fuzzy_prompt);
  EXPECT_EQ(s.rand_mag, 0.05);
  EXPECT_FALSE(s.use_vertical_symmetry);
  EXPECT_FALSE(s.use_horizontal_symmetry);
  EXPECT_EQ(s.transformation_percent, (std::vector<double>{0.09}));
  EXPECT_EQ(s.display_rate, 20);
  EXPECT_EQ(s.n_batches, 50);
  EXPECT_EQ(s.batch_size, 1);
  // §2.7
  EXPECT_EQ(s.cut_overview, "[12]*400+[4]*600");
  EXPECT_EQ(s.cut_innercut, "[4]*400+[12]*600");
  EXPECT_EQ(s.cut_ic_pow, "[1]*1000");
  EXPECT_EQ(s.cut_icgray_p, "[0.2]*400+[0]*600");
  // §2.8: DD's frame-0 prompts (its frame-100 example entry is not a default here, see settings.md).
  ASSERT_EQ(s.text_prompts.keys(), (std::vector<int64_t>{0}));
  ASSERT_EQ(s.text_prompts.at(0).size(), 2u);
  EXPECT_EQ(s.text_prompts.at(0)[1].original, "yellow color scheme");
  EXPECT_TRUE(s.image_prompts.empty());
  EXPECT_NO_THROW(s.validate());
}

TEST(Settings, DerivedValuesFollowDD) {
  Settings s;
  EXPECT_EQ(s.side_x(), 1280);
  EXPECT_EQ(s.side_y(), 768);
  EXPECT_EQ(s.timestep_respacing(), "ddim250");
  EXPECT_EQ(s.diffusion_steps(), 1000);
  EXPECT_EQ(s.steps_per_checkpoint(), 260);  // intermediate_saves 0 -> steps + 10, never triggers
  s.steps = 300;
  EXPECT_EQ(s.diffusion_steps(), 900);
  s.steps = 1000;
  EXPECT_EQ(s.diffusion_steps(), 1000);
  s.steps = 250;
  s.intermediate_saves.count = 4;
  EXPECT_EQ(s.steps_per_checkpoint(), (250 - 10 - 1) / 5);
  s.intermediate_saves.steps = std::vector<int>{10, 20};
  EXPECT_FALSE(s.steps_per_checkpoint().has_value());
  s.width = 1000;
  s.height = 700;
  EXPECT_EQ(s.side_x(), 960);  // floor to a multiple of 64
  EXPECT_EQ(s.side_y(), 640);
  Settings p;
  p.diffusion_model = "pixel_art_diffusion_soft_256";
  EXPECT_EQ(p.width_height(), (std::array<int, 2>{512, 448}));
  EXPECT_EQ(p.side_y(), 448);
  EXPECT_EQ(p.cut_overview_schedule()[0], 15);  // DD's silent per-model override (§2.7)
  EXPECT_EQ(p.cut_ic_pow_schedule()[0], 12);
  Settings w;
  w.diffusion_model = "watercolordiffusion_2";
  EXPECT_EQ(w.cut_innercut_schedule()[999], 12);
  EXPECT_DOUBLE_EQ(w.cut_icgray_p_schedule()[0], 0.7);
  EXPECT_EQ(Settings{}.cut_overview_schedule()[400], 4);
}

TEST(Settings, LoadsADDSavedSettingsFileAsIs) {
  std::string path = ::testing::TempDir() + "TimeToDisco(3)_settings.txt";
  {
    std::ofstream out(path);
    out << kDDSettingsFile;
  }
  std::vector<std::string> notes;
  Settings s = load_settings_file(path, Settings{}, &notes);
  std::remove(path.c_str());
  EXPECT_EQ(s.seed, 2881720343u);
  EXPECT_EQ(resolve_seed(s), 2881720343u);
  EXPECT_EQ(s.width_height(), (std::array<int, 2>{1280, 768}));
  EXPECT_EQ(s.steps, 250);
  EXPECT_EQ(s.clip_model_names(), (std::vector<std::string>{"ViT-B/32", "ViT-B/16", "RN50"}));
  ASSERT_EQ(s.text_prompts.keys(), (std::vector<int64_t>{0, 100}));
  EXPECT_EQ(s.text_prompts.at(100)[1].weight, 5);
  EXPECT_EQ(s.text_prompts.at(100)[1].text_to_encode(), "This prompt has weight five:5");
  std::string all;
  for (const auto& n : notes) all += n + "\n";
  EXPECT_NE(all.find("ignored DD settings"), std::string::npos) << all;
  EXPECT_NE(all.find("video_init_blend_mode"), std::string::npos) << all;
  EXPECT_EQ(all.find("max_frames"), std::string::npos) << all;  // read now: a 2D run uses it
  EXPECT_NE(all.find("written by DD"), std::string::npos) << all;  // its prompt keys are frames
  EXPECT_EQ(all.find("diffusion_steps"), std::string::npos) << all;  // consistent: no note
  // DD's file keys prompts by frame: the still image uses the frame-0 prompts throughout.
  EXPECT_EQ(s.prompt_keys, PromptKeys::Frame);
  const PromptSchedule still = s.still_text_prompts();
  ASSERT_EQ(still.keys(), (std::vector<int64_t>{0}));
  EXPECT_EQ(still.at(150)[1].text, "yellow color scheme");
}

TEST(Settings, PromptKeysAreStepsUnlessFramesAreSaidOrTheFileIsDDs) {
  EXPECT_EQ(Settings{}.prompt_keys, PromptKeys::Step);
  const json prompts = {{"3", {"a storm:1"}}, {"8", {"a calm sea:1"}}};
  Settings ours = merge_settings(Settings{}, json{{"text_prompts", prompts}}, "test");
  EXPECT_EQ(ours.prompt_keys, PromptKeys::Step);
  EXPECT_EQ(ours.still_text_prompts(), ours.text_prompts);  // switches at steps 3 and 8
  EXPECT_EQ(to_json(ours).at("prompt_keys"), "step");       // our files say which they used

  Settings frames = merge_settings(ours, json{{"prompt_keys", "frame"}}, "test");
  const PromptSchedule still = frames.still_text_prompts();
  ASSERT_EQ(still.keys(), (std::vector<int64_t>{0}));  // frame 0: the first entry, back-filled
  EXPECT_EQ(still.at(0)[0].text, "a storm");
  EXPECT_EQ(merge_settings(Settings{}, to_json(frames), "round trip"), frames);

  EXPECT_TRUE(is_dd_settings_file(json{{"max_frames", 10}, {"text_prompts", prompts}}));
  EXPECT_FALSE(is_dd_settings_file(json{{"max_frames", 10}, {"prompt_keys", "step"}}));  // said: it wins
  EXPECT_FALSE(is_dd_settings_file(json{{"steps", 10}, {"text_prompts", prompts}}));     // no DD-only key
  EXPECT_NE(merge_error(json{{"prompt_keys", "steps"}}).find("one of step, frame"), std::string::npos);
}

TEST(Settings, NotesIgnoredDDKeysAndStaleDerivedValues) {
  std::vector<std::string> notes;
  merge_settings(Settings{}, json{{"video_init_path", "v.mp4"}, {"steps", 300}, {"diffusion_steps", 1000}}, "test",
                 &notes);
  std::string all;
  for (const auto& n : notes) all += n + "\n";
  EXPECT_NE(all.find("ignored DD settings for video input"), std::string::npos) << all;
  EXPECT_NE(all.find("video_init_path"), std::string::npos) << all;
  EXPECT_NE(all.find("replaced by 900"), std::string::npos) << all;
}

TEST(Settings, LaterSourcesWin) {
  Settings file = merge_settings(Settings{}, json{{"steps", 100}, {"eta", 0.5}, {"batch_name", "Storm"}}, "file");
  Settings cli = apply_override(file, "steps=50");
  cli = apply_override(cli, "batch_name=Lighthouse");
  cli = apply_override(cli, "text_prompts=[\"a lighthouse in a storm:2\", \"blurry:-1\"]");
  EXPECT_EQ(cli.steps, 50);
  EXPECT_EQ(cli.eta, 0.5);
  EXPECT_EQ(cli.batch_name, "Lighthouse");
  EXPECT_EQ(cli.text_prompts.at(0)[1].weight, -1);
  EXPECT_EQ(Settings{}.steps, 250);
  EXPECT_EQ(apply_override(Settings{}, "batch_name=2024").batch_name, "2024");  // a number read as the string
  EXPECT_EQ(apply_override(Settings{}, "init_image=null").init_image, std::nullopt);
  EXPECT_NE(error_of([] { apply_override(Settings{}, "steps=lots"); }).find("'steps' must be an integer"),
            std::string::npos);
}

TEST(Settings, AcceptsDDAndConvenienceSpellings) {
  Settings s = merge_settings(Settings{}, json::parse(R"({"width_height": [512, 512], "init_image": "None",
      "clip_models": ["RN50", "ViT-B/32"], "intermediate_saves": [50, 100], "set_seed": "42",
      "transformation_percent": 0.5, "text_prompts": "just one prompt"})"),
                              "test");
  EXPECT_EQ(s.width_height(), (std::array<int, 2>{512, 512}));
  EXPECT_FALSE(s.init_image.has_value());
  EXPECT_EQ(s.clip_model_names(), (std::vector<std::string>{"ViT-B/32", "RN50"}));  // DD's order, not the list's
  EXPECT_EQ(s.intermediate_saves.steps, (std::vector<int>{50, 100}));
  EXPECT_EQ(resolve_seed(s), 42u);
  EXPECT_EQ(s.transformation_percent, (std::vector<double>{0.5}));
  EXPECT_EQ(s.text_prompts.at(0)[0].text, "just one prompt");
  EXPECT_EQ(apply_override(Settings{}, "clip_models=ViT-B/16, RN101").clip_model_names(),
            (std::vector<std::string>{"ViT-B/16", "RN101"}));
}

// DD's OpenCLIP flags (its typos kept) and open_clip's names select the same models, after
// OpenAI's in DD's order.
TEST(Settings, OpenClipModelsBySettingNameAndByOpenClipName) {
  Settings s = merge_settings(Settings{}, json{{"RN50_yffcc15m", true}, {"ViTB32_laion400m_32", true}}, "test");
  EXPECT_EQ(s.clip_model_names(), (std::vector<std::string>{"ViT-B/32", "ViT-B/16", "RN50", "ViT-B-32::laion400m_e32",
                                                            "RN50::yfcc15m"}));
  s = apply_override(Settings{}, "clip_models=RN101-quickgelu::yfcc15m, ViTB16_laion400m_e31, RN50");
  EXPECT_EQ(s.clip_model_names(),
            (std::vector<std::string>{"RN50", "ViT-B-16::laion400m_e31", "RN101-quickgelu::yfcc15m"}));
  EXPECT_TRUE(s.RN101_quickgelu_yfcc15m && s.ViTB16_laion400m_e31 && !s.ViTB32);
  // Saved under DD's keys, read back the same.
  const json saved = json::parse(to_json(s).dump());
  EXPECT_EQ(saved.at("RN101_quickgelu_yfcc15m"), true);
  EXPECT_EQ(saved.at("RN50_yffcc15m"), false);
  EXPECT_EQ(merge_settings(Settings{}, saved, "saved").clip_model_names(), s.clip_model_names());
}

TEST(Settings, UnknownKeyIsAnErrorNamingIt) {
  std::string e = merge_error(json{{"step", 100}});
  EXPECT_NE(e.find("unknown setting 'step'"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'steps'"), std::string::npos) << e;
  e = merge_error(json{{"frobnicate", 1}});
  EXPECT_NE(e.find("'frobnicate'"), std::string::npos) << e;
  EXPECT_EQ(e.find("did you mean"), std::string::npos) << e;
  EXPECT_NE(error_of([] { apply_override(Settings{}, "no_equals_sign"); }).find("key=value"), std::string::npos);
}

TEST(Settings, OutOfRangeValuesNameKeyValueAndRange) {
  std::string e = merge_error(json{{"steps", 0}});
  EXPECT_NE(e.find("'steps' is 0"), std::string::npos) << e;
  EXPECT_NE(e.find(">= 1"), std::string::npos) << e;
  e = merge_error(json{{"width", 0}});
  EXPECT_NE(e.find("'width' is 0"), std::string::npos) << e;
  EXPECT_NE(e.find("from 64 to"), std::string::npos) << e;
  EXPECT_NE(merge_error(json{{"height", 63}}).find("'height' is 63"), std::string::npos);
  EXPECT_NE(merge_error(json{{"eta", -0.1}}).find("'eta' is -0.1"), std::string::npos);
  EXPECT_NE(merge_error(json{{"cutn_batches", 0}}).find("'cutn_batches' is 0"), std::string::npos);
  e = merge_error(json{{"diffusion_sampling_mode", "euler"}});
  EXPECT_NE(e.find("'euler'"), std::string::npos) << e;
  EXPECT_NE(e.find("ddim, plms"), std::string::npos) << e;
  e = merge_error(json{{"perlin_mode", "grey"}});
  EXPECT_NE(e.find("mixed, color, gray"), std::string::npos) << e;
  e = merge_error(json{{"skip_steps", 250}});
  EXPECT_NE(e.find("'skip_steps' is 250"), std::string::npos) << e;
  EXPECT_NE(e.find("0 to steps - 1 = 249"), std::string::npos) << e;
  EXPECT_NE(merge_error(json{{"diffusion_model", "sd15"}}).find("256x256_diffusion_uncond"), std::string::npos);
  EXPECT_NE(merge_error(json{{"clamp_max", 0}}).find("> 0"), std::string::npos);
  EXPECT_NE(merge_error(json{{"display_rate", 0}}).find("'display_rate'"), std::string::npos);
  EXPECT_NE(merge_error(json{{"n_batches", -1}}).find("'n_batches'"), std::string::npos);
  EXPECT_NE(merge_error(json{{"transformation_percent", {1.5}}}).find("[0, 1]"), std::string::npos);
  EXPECT_NE(merge_error(json{{"batch_name", "../x"}}).find("'batch_name'"), std::string::npos);
  EXPECT_NE(merge_error(json{{"seed", -1}}).find("4294967295"), std::string::npos);
  EXPECT_NE(merge_error(json{{"seed", 4294967296LL}}).find("4294967295"), std::string::npos);
  EXPECT_NE(merge_error(json{{"set_seed", "lucky"}}).find("'set_seed'"), std::string::npos);
  EXPECT_NE(merge_error(json{{"ViTB32", false}, {"ViTB16", false}, {"RN50", false}}).find("no CLIP model is selected"),
            std::string::npos);
  EXPECT_NE(merge_error(json{{"RN50_cc12m", true}, {"image_prompts", {"prompt.png"}}}).find("OpenCLIP model RN50::cc12m"),
            std::string::npos);
  EXPECT_NE(merge_error(json{{"clip_models", {"ViT-H/14"}}}).find("'ViT-H/14'"), std::string::npos);
}

TEST(Settings, WrongTypesAndBadSchedulesAreErrors) {
  std::string e = merge_error(json{{"steps", "many"}});
  EXPECT_NE(e.find("'steps' must be an integer"), std::string::npos) << e;
  EXPECT_NE(e.find("test: "), std::string::npos) << e;  // the source is named
  EXPECT_NE(merge_error(json{{"steps", 2.5}}).find("an integer"), std::string::npos);
  EXPECT_EQ(merge_error(json{{"steps", 100.0}}), "");
  EXPECT_NE(merge_error(json{{"clamp_grad", "yes"}}).find("true or false"), std::string::npos);
  e = merge_error(json{{"cut_overview", "[12]*400+[4]*599"}});
  EXPECT_NE(e.find("cut_overview"), std::string::npos) << e;
  EXPECT_NE(e.find("999 entries"), std::string::npos) << e;
  EXPECT_NE(merge_error(json{{"cut_innercut", "__import__('os').system('rm -rf /')"}}).find("position 0"),
            std::string::npos);
  EXPECT_NE(merge_error(json{{"cut_overview", "[12.5]*1000"}}).find("whole numbers"), std::string::npos);
  EXPECT_NE(merge_error(json{{"cut_icgray_p", "[1.2]*1000"}}).find("[0, 1]"), std::string::npos);
  e = merge_error(json{{"text_prompts", {{"0", {"a:1", "b:-1"}}}}});
  EXPECT_NE(e.find("cancel out"), std::string::npos) << e;
  EXPECT_NE(merge_error(json::array({1, 2})).find("JSON object"), std::string::npos);
}

TEST(Settings, FileErrorsAreClear) {
  EXPECT_NE(error_of([] { load_settings_file("/nonexistent/settings.json"); }).find("cannot open"), std::string::npos);
  std::string path = ::testing::TempDir() + "disco_settings_yaml.yml";
  {
    std::ofstream out(path);
    out << "steps: 100\nbatch_name: x\n";
  }
  if (have_yaml_support()) {  // read as YAML (settings_yaml_test has the details)
    const Settings s = load_settings_file(path);
    EXPECT_EQ(s.steps, 100);
    EXPECT_EQ(s.batch_name, "x");
  } else {  // a build without yaml-cpp says what to install
    const std::string e = error_of([&] { load_settings_file(path); });
    EXPECT_NE(e.find("YAML"), std::string::npos) << e;
    EXPECT_NE(e.find(path), std::string::npos) << e;
  }
  std::remove(path.c_str());
}

TEST(Settings, SavedSettingsLoadBackToTheSameSettings) {
  Settings s = merge_settings(Settings{}, json::parse(R"({
      "text_prompts": {"0": ["a lighthouse in a storm, trending on artstation:2", "blurry:-0.5"],
                       "120": ["stormy sea:1"]},
      "image_prompts": {"0": ["https://example.com/ref.png:0.5"]},
      "steps": 100, "skip_steps": 5, "width": 640, "height": 360, "seed": 7, "eta": 0.3,
      "diffusion_sampling_mode": "plms", "use_secondary_model": false, "ViTL14": true, "RN50": false,
      "init_image": "init.png", "init_scale": 200, "perlin_init": true, "perlin_mode": "gray",
      "intermediate_saves": [10, 20], "fuzzy_prompt": true, "rand_mag": 0.1, "batch_name": "Storm",
      "cut_overview": "[8]*500+[2]*500", "transformation_percent": [0.1, 0.5],
      "use_vertical_symmetry": true, "n_batches": 3, "display_rate": 5, "set_seed": "9"})"),
                              "test");
  std::string text = to_settings_text(s);
  Settings back = merge_settings(Settings{}, json::parse(text), "saved");
  EXPECT_EQ(back, s);
  EXPECT_EQ(to_settings_text(back), text);
  EXPECT_EQ(back.init_image, std::optional<std::string>("init.png"));
  EXPECT_EQ(back.seed, 7u);
  EXPECT_EQ(back.text_prompts.at(130)[0].original, "stormy sea:1");
  EXPECT_EQ(back.image_prompts.at(0)[0].text, "https://example.com/ref.png");
  EXPECT_EQ(back.intermediate_saves.steps, (std::vector<int>{10, 20}));
  EXPECT_EQ(back.clip_model_names(), (std::vector<std::string>{"ViT-B/32", "ViT-B/16", "ViT-L/14"}));
  // DD's key order (§12) comes first.
  auto j = json::parse(text);
  EXPECT_EQ(text.find("\"text_prompts\""), text.find('"'));
  EXPECT_EQ(j["diffusion_steps"], 1000);  // (1000 // 100) * 100
  EXPECT_EQ(j["width"], 640);
  Settings d;
  EXPECT_EQ(merge_settings(Settings{}, json::parse(to_settings_text(d)), "saved"), d);
  EXPECT_NE(d, s);
}

TEST(Settings, RandomSeedIsDrawnWhenUnset) {
  Settings s;
  // Two draws from 2^32 values: equal with probability 2^-32 per pair; three draws all equal ~never.
  uint32_t a = resolve_seed(s), b = resolve_seed(s), c = resolve_seed(s);
  EXPECT_FALSE(a == b && b == c);
}

}  // namespace
}  // namespace disco

namespace disco {
namespace {
TEST(Settings, ReadsAnAnimationFile) {
  const Settings s = merge_settings(
      Settings{},
      json{{"animation_mode", "2D"}, {"max_frames", 5}, {"angle", "0:(2), 3:(-4)"}, {"zoom", 1.04},
           {"frames_skip_steps", "50%"}, {"interp_spline", "Cubic"}, {"steps", 10}, {"skip_steps", 2}},
      "test");
  EXPECT_EQ(s.animation_mode, AnimationMode::TwoD);
  EXPECT_EQ(s.max_frames, 5);
  EXPECT_EQ(s.angle, "0:(2), 3:(-4)");
  EXPECT_EQ(s.zoom, "1.04");  // a number reads as DD's bare-number form
  EXPECT_EQ(s.interp_spline, animation::Interp::Cubic);
  EXPECT_EQ(s.calc_frames_skip_steps(), 5);
  const auto j = to_json(s);
  EXPECT_EQ(j.at("max_frames"), 5);
  EXPECT_EQ(j.at("animation_mode"), "2D");
  EXPECT_EQ(merge_settings(Settings{}, j, "round trip"), s);
  EXPECT_NE(merge_error(json{{"animation_mode", "Video Input"}}).find("does not have yet"), std::string::npos);
  EXPECT_NE(merge_error(json{{"frames_skip_steps", "100%"}}).find("0% to 99%"), std::string::npos);
  EXPECT_NE(merge_error(json{{"max_frames", 0}}).find("max_frames"), std::string::npos);
  EXPECT_NE(merge_error(json{{"angle", "zero"}}).find("'angle'"), std::string::npos);
  EXPECT_NE(merge_error(json{{"key_frames", false}}).find("plain number"), std::string::npos);
}
}  // namespace
}  // namespace disco
