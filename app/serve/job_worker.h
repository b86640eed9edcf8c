// The worker: one thread per device that takes the queue's jobs in order and runs them with the
// library, reporting through the event hub. The models stay loaded while they cover the next
// job's needs (model_needs). A job of n still images is n one-image runs (image k seeded seed + k), so each
// finished image is recorded at once and a restarted server goes on from the next one; an
// animation resumes through DD's own resume (resume_run) from the frames on disk, and its frames
// are joined into an mp4 (io/video.h) once the last one is made.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "disco/run.h"
#include "io/video.h"
#include "events.h"
#include "job_store.h"

namespace disco::serve {

class JobWorker {
 public:
  // `run` holds the device, precision and model files from the serve command's flags;
  // `data_dir` the folder with jobs/ (outputs) and uploads/; `video` how animations are joined.
  JobWorker(JobStore& store, EventHub& hub, RunOptions run, std::string data_dir, io::VideoOptions video);
  ~JobWorker();
  JobWorker(const JobWorker&) = delete;
  JobWorker& operator=(const JobWorker&) = delete;

  void start();
  // Stops the running job at its next step and puts it back in the queue (it resumes at the
  // next start), then ends the thread.
  void stop();
  void wake();  // a job was queued
  // Asks the running job `id` to stop; false when it is not the running one.
  bool cancel(int64_t id);
  // The newest preview (progress.png) of the running job `id`; "" when there is none.
  std::string preview_path(int64_t id);

 private:
  struct Reporter;
  void loop();
  void run_job(const Job& job);
  void run_still(const Job& job, const Settings& s, Reporter& rep);
  void run_animation(const Job& job, Settings s, Reporter& rep);
  void record_frames(const Job& job, const Settings& s, const std::string& folder, int run, int below);
  void make_video(const Job& job, const Settings& s, const std::string& folder, int run);
  std::shared_ptr<LoadedModels> models_for(const Settings& s, const Callbacks& cb);
  Callbacks callbacks_for(Reporter& rep);

  JobStore& store_;
  EventHub& hub_;
  const RunOptions run_;
  const std::string data_dir_;
  const io::VideoOptions video_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool woken_ = false;
  std::string preview_;
  std::atomic<int64_t> running_{0};
  std::atomic<bool> cancel_{false};
  std::atomic<bool> stopping_{false};
  ModelNeeds loaded_;  // what models_ were loaded for; the worker thread's alone
  std::shared_ptr<LoadedModels> models_;
  std::thread thread_;
};

// 16 random hex digits: the ids of images and uploads.
std::string random_id();

}  // namespace disco::serve
