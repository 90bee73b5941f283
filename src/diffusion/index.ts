// The diffusion model of ECLIPSE: improved-DDPM's Gaussian diffusion, its U-Net, respacing
// and timestep sampling.
export * from './schedule.js';
export * from './respace.js';
export * from './resample.js';
export * from './gaussian.js';
export * from './unet.js';
