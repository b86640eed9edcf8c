// A job's settings as the server reads them: the request's JSON (bounded in depth), merged onto
// the server's base settings with the same table, reader and validation as the CLI and settings
// files, plus the server's own rules: clients name uploads by id, never files or URLs.
#pragma once
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "disco/settings.h"

namespace disco::serve {

// A request the server refuses with 400: the message, and the setting it is about (may be empty).
struct BadRequest {
  std::string message;
  std::string key;
  int status = 400;  // 413 for a body over the limit
};

// Parses a request body; throws BadRequest for bad JSON or nesting deeper than `max_depth`.
nlohmann::json parse_request_json(const std::string& body, int max_depth);

// Whether `id` is an upload id (16 hex digits and .png/.jpg) the store knows.
using UploadExists = std::function<bool(const std::string& id)>;

// The job's settings: `j` (an object of DD-named keys) on `base`, validated; the seed drawn now
// when the settings leave it random, so a restarted job makes the same images. `server_model`
// is the serve command's --model file: the custom_path its images' settings files record. Throws
// BadRequest with the CLI's message and the setting it names.
Settings job_settings(const Settings& base, const nlohmann::json& j, const UploadExists& upload_exists,
                      const std::string& server_model);

// How many images (still) or frames (animation) the settings make.
int job_total(const Settings& s);

// The setting a SettingsError message is about: the longest table key it names ("" if none).
std::string setting_named_in(const std::string& message);

// The settings table for the page's form: key, group, type, help, choices, allowed values and
// the default (the value `base` saves).
nlohmann::json settings_table_json(const Settings& base);

bool is_upload_id(const std::string& id);

}  // namespace disco::serve
