// The job queue of `disco serve`, kept in SQLite so that it outlives the process: each job's
// settings, state, error and finished images, uploads, and the order of the queued jobs. One
// connection behind a mutex: the server's threads share it, and no call holds it for long.
#pragma once
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

struct sqlite3;

namespace disco::serve {

// queued -> running -> done | failed | cancelled; a running job of a killed server is queued
// again at the next start and resumes from its last finished image or frame.
enum class JobState { Queued, Running, Done, Failed, Cancelled };
const char* job_state_name(JobState s);

struct JobImage {
  std::string id;        // 16 hex digits: the only name clients use
  int index = 0;         // the image's index in its job (a still image) or its frame number
  std::string path;      // the PNG on the server
  std::string settings;  // its settings file on the server
};

// An animation's frames joined into an mp4 once its last frame is made.
struct JobVideo {
  std::string id;    // 16 hex digits, as an image's
  std::string path;  // the mp4 on the server
  int64_t frames = 0;
};

struct Job {
  int64_t id = 0;
  JobState state = JobState::Queued;
  nlohmann::json settings;  // as submitted, with the seed the server drew
  std::string error;
  int total = 0;            // images (n_batches) or frames (max_frames) it makes
  int64_t created = 0;      // seconds since the epoch
  int runs = 0;             // how many times a worker has started it (a restart resumes it)
  std::vector<JobImage> images;
  std::optional<JobVideo> video;  // an animation's, once made
};

class JobStore {
 public:
  explicit JobStore(const std::string& db_path);
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  // Appends a queued job; nullopt when `max_queued` jobs are already waiting.
  std::optional<int64_t> add(const nlohmann::json& settings, int total, int max_queued);
  std::optional<Job> get(int64_t id);
  // Every job, queued ones first in queue order, then the rest newest first.
  std::vector<Job> list();
  // The first queued job, now running (its `runs` counted); nullopt when none waits.
  std::optional<Job> claim_next();
  // Ends a running or queued job; false when it had already ended.
  bool finish(int64_t id, JobState state, const std::string& error = "");
  void requeue(int64_t id);
  // Running jobs of a previous process go back to the head of the queue; returns how many.
  int requeue_interrupted();
  // Moves a queued job to `position` (0: the head) among the queued ones; false if not queued.
  bool move(int64_t id, int position);
  // Records a finished image; false when the job already has one at that index (never twice).
  bool add_image(int64_t job, const JobImage& image);
  std::optional<JobImage> image(const std::string& image_id);
  // Records the job's video, replacing one made before (a resumed job makes it again).
  void set_video(int64_t job, const JobVideo& video);
  std::optional<JobVideo> video(const std::string& video_id);
  int count(JobState state);

  void add_upload(const std::string& id, const std::string& path);
  std::optional<std::string> upload_path(const std::string& id);

 private:
  void exec(const std::string& sql);
  std::vector<JobImage> images_of(int64_t job);
  std::optional<JobVideo> video_of(int64_t job);
  std::vector<Job> select_jobs(const std::string& where_and_order, int64_t arg);
  sqlite3* db_ = nullptr;
  std::mutex mu_;
};

}  // namespace disco::serve
