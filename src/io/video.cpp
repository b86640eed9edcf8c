// The video writer over FFmpeg's libraries (libavformat's mp4 muxer, libavcodec's libx264,
// libswscale for RGB -> yuv420p). One encoder per call: no state outlives it.
#include "io/video.h"

#include <cstdio>
#include <filesystem>
#include <memory>
#include <vector>

#include <unistd.h>

#include "common/error.h"
#include "io/image.h"

#ifdef DISCO_HAVE_FFMPEG
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}
#endif

namespace disco::io {
namespace fs = std::filesystem;

std::string frame_file_name(const std::string& batch_name, int run, int frame) {
  char num[16];
  std::snprintf(num, sizeof num, "%04d", frame);
  return batch_name + "(" + std::to_string(run) + ")_" + num + ".png";
}

namespace {

std::string frame_path(const std::string& folder, const std::string& name, int run, int frame) {
  return (fs::path(folder) / frame_file_name(name, run, frame)).string();
}

// The frames DD's ffmpeg call reads: from init_frame while the files go on, at most last_frame + 1.
std::vector<std::string> frame_files(const std::string& folder, const std::string& name, int run, const VideoOptions& o) {
  std::vector<std::string> files;
  const int64_t most = o.last_frame ? int64_t{*o.last_frame} + 1 : INT64_MAX;
  for (int f = o.init_frame; static_cast<int64_t>(files.size()) < most; ++f) {
    const std::string p = frame_path(folder, name, run, f);
    if (!fs::exists(p)) break;
    files.push_back(p);
  }
  DISCO_CHECK(!files.empty(), SettingsError, "no frames to make a video of: '", frame_path(folder, name, run, o.init_frame),
              "' does not exist (the video starts at init_frame ", o.init_frame, ", 1 as DD unless given).");
  return files;
}

}  // namespace

#ifndef DISCO_HAVE_FFMPEG

namespace {
[[noreturn]] void no_video() {
  throw RuntimeError("this disco was built without video support: install FFmpeg's development packages "
                     "(apt-get install pkg-config libavcodec-dev libavformat-dev libswscale-dev) and build again; "
                     "the frames are PNG files, which any video tool can also join.");
}
}  // namespace

bool have_video_support() { return false; }

std::string write_video(const std::string& folder, const std::string& batch_name, int run, const VideoOptions& o) {
  frame_files(folder, batch_name, run, o);  // the frames' error first: it is the one to fix first
  no_video();
}

VideoInfo probe_video(const std::string&) { no_video(); }

#else

namespace {

[[noreturn]] void av_fail(const char* what, int err) {
  char msg[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(err, msg, sizeof msg);
  throw RuntimeError(detail::concat("video: ", what, " failed (", msg, ")."));
}

void check_av(int err, const char* what) {
  if (err < 0) av_fail(what, err);
}

struct Encoder {
  AVFormatContext* fmt = nullptr;
  AVCodecContext* codec = nullptr;
  AVStream* stream = nullptr;
  AVFrame* frame = nullptr;
  AVPacket* packet = nullptr;
  SwsContext* sws = nullptr;
  ~Encoder() {
    sws_freeContext(sws);
    av_packet_free(&packet);
    av_frame_free(&frame);
    avcodec_free_context(&codec);
    if (fmt && fmt->pb) avio_closep(&fmt->pb);
    avformat_free_context(fmt);
  }
};

void open_encoder(Encoder& e, const std::string& path, int w, int h, const VideoOptions& o) {
  check_av(avformat_alloc_output_context2(&e.fmt, nullptr, "mp4", path.c_str()), "creating the mp4 container");
  const AVCodec* h264 = avcodec_find_encoder_by_name("libx264");
  if (!h264) h264 = avcodec_find_encoder(AV_CODEC_ID_H264);
  DISCO_CHECK(h264, RuntimeError, "video: this FFmpeg has no H.264 encoder (libx264); install one and build again.");
  e.stream = avformat_new_stream(e.fmt, nullptr);
  e.codec = avcodec_alloc_context3(h264);
  DISCO_CHECK(e.stream && e.codec, RuntimeError, "video: out of memory.");
  e.codec->width = w;
  e.codec->height = h;
  e.codec->pix_fmt = AV_PIX_FMT_YUV420P;
  e.codec->time_base = av_d2q(1.0 / o.fps, 100000);
  e.codec->framerate = av_d2q(o.fps, 100000);
  if (e.fmt->oformat->flags & AVFMT_GLOBALHEADER) e.codec->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  av_opt_set(e.codec->priv_data, "preset", o.preset.c_str(), 0);
  av_opt_set(e.codec->priv_data, "crf", std::to_string(o.crf).c_str(), 0);
  check_av(avcodec_open2(e.codec, h264, nullptr), "opening the H.264 encoder");
  check_av(avcodec_parameters_from_context(e.stream->codecpar, e.codec), "setting the stream parameters");
  e.stream->time_base = e.codec->time_base;
  e.stream->avg_frame_rate = e.codec->framerate;
  check_av(avio_open(&e.fmt->pb, path.c_str(), AVIO_FLAG_WRITE), "opening the output file");
  check_av(avformat_write_header(e.fmt, nullptr), "writing the mp4 header");
  e.frame = av_frame_alloc();
  e.packet = av_packet_alloc();
  e.frame->format = AV_PIX_FMT_YUV420P;
  e.frame->width = w;
  e.frame->height = h;
  check_av(av_frame_get_buffer(e.frame, 0), "allocating a frame");
  e.sws = sws_getContext(w, h, AV_PIX_FMT_RGB24, w, h, AV_PIX_FMT_YUV420P, SWS_BICUBIC, nullptr, nullptr, nullptr);
  DISCO_CHECK(e.sws, RuntimeError, "video: no RGB to yuv420p conversion.");
}

// Sends `frame` (null: flush) and writes every packet the encoder has ready.
void encode(Encoder& e, AVFrame* frame) {
  check_av(avcodec_send_frame(e.codec, frame), "encoding a frame");
  for (;;) {
    const int got = avcodec_receive_packet(e.codec, e.packet);
    if (got == AVERROR(EAGAIN) || got == AVERROR_EOF) return;
    check_av(got, "encoding a frame");
    if (e.packet->duration == 0) e.packet->duration = 1;  // one frame, so the last one counts too
    av_packet_rescale_ts(e.packet, e.codec->time_base, e.stream->time_base);
    e.packet->stream_index = e.stream->index;
    check_av(av_interleaved_write_frame(e.fmt, e.packet), "writing a frame");
  }
}

void encode_files(const std::vector<std::string>& files, const std::string& path, const VideoOptions& o) {
  const Image8 first = read_png(files.front());
  Encoder e;
  open_encoder(e, path, first.width, first.height, o);
  for (size_t i = 0; i < files.size(); ++i) {
    const Image8 im = i == 0 ? first : read_png(files[i]);
    DISCO_CHECK(im.width == first.width && im.height == first.height, SettingsError, "video: '", files[i], "' is ",
                im.width, "x", im.height, ", but the first frame is ", first.width, "x", first.height, ".");
    check_av(av_frame_make_writable(e.frame), "preparing a frame");
    const uint8_t* src[1] = {im.rgb.data()};
    const int stride[1] = {3 * im.width};
    sws_scale(e.sws, src, stride, 0, im.height, e.frame->data, e.frame->linesize);
    e.frame->pts = static_cast<int64_t>(i);
    encode(e, e.frame);
  }
  encode(e, nullptr);
  check_av(av_write_trailer(e.fmt), "finishing the mp4 file");
}

}  // namespace

bool have_video_support() { return true; }

std::string write_video(const std::string& folder, const std::string& batch_name, int run, const VideoOptions& o) {
  DISCO_CHECK(o.fps > 0 && o.fps <= 1000 && o.init_frame >= 0 && (!o.last_frame || *o.last_frame >= 0), SettingsError,
              "video: fps must be in (0, 1000], init_frame and last_frame >= 0.");
  const auto files = frame_files(folder, batch_name, run, o);
  av_log_set_level(AV_LOG_ERROR);  // FFmpeg's own (process-wide) level: its notes are not ours to print
  const std::string path = (fs::path(folder) / (batch_name + "(" + std::to_string(run) + ").mp4")).string();
  const std::string tmp = path + ".tmp" + std::to_string(::getpid()) + ".mp4";
  try {
    encode_files(files, tmp, o);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) std::remove(tmp.c_str());
  DISCO_CHECK(!ec, RuntimeError, "cannot write '", path, "': ", ec.message(), ".");
  return path;
}

VideoInfo probe_video(const std::string& path) {
  AVFormatContext* fmt = nullptr;
  check_av(avformat_open_input(&fmt, path.c_str(), nullptr, nullptr), "opening the video");
  std::unique_ptr<AVFormatContext*, void (*)(AVFormatContext**)> guard(&fmt, avformat_close_input);
  check_av(avformat_find_stream_info(fmt, nullptr), "reading the video's streams");
  const int index = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  check_av(index, "finding the video stream");
  const AVStream* st = fmt->streams[index];
  VideoInfo info;
  info.width = st->codecpar->width;
  info.height = st->codecpar->height;
  info.codec = avcodec_get_name(st->codecpar->codec_id);
  const char* pix = av_get_pix_fmt_name(static_cast<AVPixelFormat>(st->codecpar->format));
  info.pixel_format = pix ? pix : "";
  info.fps = av_q2d(st->avg_frame_rate);
  AVPacket* pkt = av_packet_alloc();
  while (av_read_frame(fmt, pkt) >= 0) {
    info.frames += pkt->stream_index == index;
    av_packet_unref(pkt);
  }
  av_packet_free(&pkt);
  return info;
}

#endif

}  // namespace disco::io
