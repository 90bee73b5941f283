// Colour constants shared by the corruption compensation (defences) and ADP's differentiable
// version of it (attacks): here, below both.

/** ITU-R 601-2 luma, as torchvision's RandomGrayscale. */
export const LUMA = [0.299, 0.587, 0.114] as const;
