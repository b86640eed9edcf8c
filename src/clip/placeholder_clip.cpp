// module clip
