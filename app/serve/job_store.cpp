// SQLite through its C API: prepared statements only, so no client text is ever spliced into SQL.
#include "job_store.h"

#include <chrono>
#include <stdexcept>

#include <sqlite3.h>

#include "common/error.h"

namespace disco::serve {
namespace {

// One prepared statement, finalised on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &st_, nullptr) != SQLITE_OK)
      throw RuntimeError(std::string("job database: ") + sqlite3_errmsg(db));
  }
  ~Statement() { sqlite3_finalize(st_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement& bind(int i, int64_t v) { sqlite3_bind_int64(st_, i, v); return *this; }
  Statement& bind(int i, const std::string& v) {
    sqlite3_bind_text(st_, i, v.c_str(), int(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // True while a row is there; throws on an error.
  bool step() {
    const int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw RuntimeError(std::string("job database: ") + sqlite3_errmsg(db_));
  }
  int64_t integer(int col) const { return sqlite3_column_int64(st_, col); }
  std::string text(int col) const {
    const auto* p = sqlite3_column_text(st_, col);
    return p ? std::string(reinterpret_cast<const char*>(p)) : std::string();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
};

constexpr const char* kJobStoreSchema = R"(
  CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, state INTEGER NOT NULL, position INTEGER NOT NULL,
    settings TEXT NOT NULL, error TEXT NOT NULL DEFAULT '', total INTEGER NOT NULL,
    created INTEGER NOT NULL, runs INTEGER NOT NULL DEFAULT 0);
  CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY, job INTEGER NOT NULL, idx INTEGER NOT NULL, path TEXT NOT NULL,
    settings TEXT NOT NULL, UNIQUE(job, idx));
  CREATE TABLE IF NOT EXISTS uploads (id TEXT PRIMARY KEY, path TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS videos (
    id TEXT PRIMARY KEY, job INTEGER NOT NULL UNIQUE, path TEXT NOT NULL, frames INTEGER NOT NULL);
)";

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The video a "SELECT id, path, frames FROM videos" statement finds, if any.
std::optional<JobVideo> first_video(Statement& st) {
  if (!st.step()) return std::nullopt;
  return JobVideo{st.text(0), st.text(1), st.integer(2)};
}

}  // namespace

const char* job_state_name(JobState s) {
  switch (s) {
    case JobState::Queued: return "queued";
    case JobState::Running: return "running";
    case JobState::Done: return "done";
    case JobState::Failed: return "failed";
    case JobState::Cancelled: return "cancelled";
  }
  return "?";
}

JobStore::JobStore(const std::string& db_path) {
  if (sqlite3_open(db_path.c_str(), &db_) != SQLITE_OK) {
    const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw RuntimeError("cannot open the job database '" + db_path + "': " + why);
  }
  sqlite3_busy_timeout(db_, 5000);
  // WAL: a commit is one append, and a process killed at any point leaves the last commit intact.
  exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
  exec(kJobStoreSchema);
}

JobStore::~JobStore() { sqlite3_close(db_); }

void JobStore::exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string why = err ? err : "?";
    sqlite3_free(err);
    throw RuntimeError("job database: " + why);
  }
}

std::optional<int64_t> JobStore::add(const nlohmann::json& settings, int total, int max_queued) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement waiting(db_, "SELECT COUNT(*), COALESCE(MAX(position), 0) FROM jobs WHERE state = ?");
  waiting.bind(1, int64_t(JobState::Queued)).step();
  if (waiting.integer(0) >= max_queued) return std::nullopt;
  Statement ins(db_, "INSERT INTO jobs (state, position, settings, total, created) VALUES (?, ?, ?, ?, ?)");
  ins.bind(1, int64_t(JobState::Queued)).bind(2, waiting.integer(1) + 1).bind(3, settings.dump());
  ins.bind(4, int64_t(total)).bind(5, now_seconds()).step();
  return sqlite3_last_insert_rowid(db_);
}

std::vector<JobImage> JobStore::images_of(int64_t job) {
  Statement st(db_, "SELECT id, idx, path, settings FROM images WHERE job = ? ORDER BY idx");
  st.bind(1, job);
  std::vector<JobImage> out;
  while (st.step()) out.push_back({st.text(0), int(st.integer(1)), st.text(2), st.text(3)});
  return out;
}

std::vector<Job> JobStore::select_jobs(const std::string& where_and_order, int64_t arg) {
  const std::string sql = "SELECT id, state, settings, error, total, created, runs FROM jobs " + where_and_order;
  Statement st(db_, sql.c_str());
  if (where_and_order.find('?') != std::string::npos) st.bind(1, arg);
  std::vector<Job> jobs;
  while (st.step()) {
    Job j;
    j.id = st.integer(0);
    j.state = JobState(st.integer(1));
    j.settings = nlohmann::json::parse(st.text(2), nullptr, /*allow_exceptions=*/false);
    j.error = st.text(3);
    j.total = int(st.integer(4));
    j.created = st.integer(5);
    j.runs = int(st.integer(6));
    jobs.push_back(std::move(j));
  }
  for (auto& j : jobs) {
    j.images = images_of(j.id);
    j.video = video_of(j.id);
  }
  return jobs;
}

std::optional<Job> JobStore::get(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto jobs = select_jobs("WHERE id = ?", id);
  if (jobs.empty()) return std::nullopt;
  return std::move(jobs.front());
}

std::vector<Job> JobStore::list() {
  std::lock_guard<std::mutex> lock(mu_);
  return select_jobs("ORDER BY state = " + std::to_string(int(JobState::Queued)) +
                         " DESC, CASE WHEN state = 0 THEN position ELSE -id END",
                     0);
}

std::optional<Job> JobStore::claim_next() {
  std::lock_guard<std::mutex> lock(mu_);
  auto jobs = select_jobs("WHERE state = ? ORDER BY position LIMIT 1", int64_t(JobState::Queued));
  if (jobs.empty()) return std::nullopt;
  Statement st(db_, "UPDATE jobs SET state = ?, runs = runs + 1 WHERE id = ?");
  st.bind(1, int64_t(JobState::Running)).bind(2, jobs.front().id).step();
  jobs.front().state = JobState::Running;
  ++jobs.front().runs;
  return std::move(jobs.front());
}

bool JobStore::finish(int64_t id, JobState state, const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement st(db_, "UPDATE jobs SET state = ?, error = ? WHERE id = ? AND state IN (?, ?)");
  st.bind(1, int64_t(state)).bind(2, error).bind(3, id);
  st.bind(4, int64_t(JobState::Queued)).bind(5, int64_t(JobState::Running)).step();
  return sqlite3_changes(db_) > 0;
}

void JobStore::requeue(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  // Back at the head: the job was running, so it was first in line.
  Statement st(db_, "UPDATE jobs SET state = ?, position = (SELECT COALESCE(MIN(position), 1) - 1 FROM jobs) "
                    "WHERE id = ? AND state = ?");
  st.bind(1, int64_t(JobState::Queued)).bind(2, id).bind(3, int64_t(JobState::Running)).step();
}

int JobStore::requeue_interrupted() {
  std::lock_guard<std::mutex> lock(mu_);
  Statement st(db_, "UPDATE jobs SET state = ?, position = (SELECT COALESCE(MIN(position), 1) - 1 FROM jobs) "
                    "WHERE state = ?");
  st.bind(1, int64_t(JobState::Queued)).bind(2, int64_t(JobState::Running)).step();
  return sqlite3_changes(db_);
}

bool JobStore::move(int64_t id, int position) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int64_t> ids;
  {
    Statement st(db_, "SELECT id FROM jobs WHERE state = ? ORDER BY position");
    st.bind(1, int64_t(JobState::Queued));
    while (st.step()) ids.push_back(st.integer(0));
  }
  auto it = std::find(ids.begin(), ids.end(), id);
  if (it == ids.end()) return false;
  ids.erase(it);
  ids.insert(ids.begin() + std::max(0, std::min(position, int(ids.size()))), id);
  exec("BEGIN");
  for (size_t i = 0; i < ids.size(); ++i) {
    Statement st(db_, "UPDATE jobs SET position = ? WHERE id = ?");
    st.bind(1, int64_t(i) + 1).bind(2, ids[i]).step();
  }
  exec("COMMIT");
  return true;
}

bool JobStore::add_image(int64_t job, const JobImage& image) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement st(db_, "INSERT OR IGNORE INTO images (id, job, idx, path, settings) VALUES (?, ?, ?, ?, ?)");
  st.bind(1, image.id).bind(2, job).bind(3, int64_t(image.index)).bind(4, image.path).bind(5, image.settings).step();
  return sqlite3_changes(db_) > 0;
}

std::optional<JobImage> JobStore::image(const std::string& image_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement st(db_, "SELECT id, idx, path, settings FROM images WHERE id = ?");
  st.bind(1, image_id);
  if (!st.step()) return std::nullopt;
  return JobImage{st.text(0), int(st.integer(1)), st.text(2), st.text(3)};
}

void JobStore::set_video(int64_t job, const JobVideo& video) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement st(db_, "INSERT OR REPLACE INTO videos (id, job, path, frames) VALUES (?, ?, ?, ?)");
  st.bind(1, video.id).bind(2, job).bind(3, video.path).bind(4, video.frames).step();
}

std::optional<JobVideo> JobStore::video_of(int64_t job) {
  Statement st(db_, "SELECT id, path, frames FROM videos WHERE job = ?");
  return first_video(st.bind(1, job));
}

std::optional<JobVideo> JobStore::video(const std::string& video_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement st(db_, "SELECT id, path, frames FROM videos WHERE id = ?");
  return first_video(st.bind(1, video_id));
}

int JobStore::count(JobState state) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement st(db_, "SELECT COUNT(*) FROM jobs WHERE state = ?");
  st.bind(1, int64_t(state)).step();
  return int(st.integer(0));
}

void JobStore::add_upload(const std::string& id, const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement st(db_, "INSERT OR REPLACE INTO uploads (id, path) VALUES (?, ?)");
  st.bind(1, id).bind(2, path).step();
}

std::optional<std::string> JobStore::upload_path(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement st(db_, "SELECT path FROM uploads WHERE id = ?");
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return st.text(0);
}

}  // namespace disco::serve
