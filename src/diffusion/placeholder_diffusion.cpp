// module diffusion
