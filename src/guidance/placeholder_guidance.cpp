// module guidance
