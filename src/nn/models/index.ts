// The CIFAR classifiers by name, for recipes, checkpoints and the CLI.
import type { Device, Generator } from '../init.js';
import type { Module } from '../module.js';
import { ResNet, resnet18, resnet34, resnet50, type ResNetConfig } from './resnet.js';
import { VGG, vgg16, vgg19, type VGGConfig, type VGGName } from './vgg.js';
import { DenseNet, densenet121, denseGrowthRate, type DenseNetConfig } from './densenet.js';
import { LinearNet, TwoLayerNet, type SimpleNetConfig } from './simple.js';

export { ResNet, resnet18, resnet34, resnet50, VGG, vgg16, vgg19, DenseNet, densenet121, denseGrowthRate, LinearNet, TwoLayerNet };
export type { ResNetConfig, VGGConfig, VGGName, DenseNetConfig, SimpleNetConfig };

export const CLASSIFIERS = ['resnet18', 'resnet34', 'resnet50', 'vgg16', 'vgg19', 'densenet121'] as const;
export type ClassifierName = (typeof CLASSIFIERS)[number];
/** Not victims: the simple networks a poison detector fits (scan/simple-networks.ts). */
export const SIMPLE_NETWORKS = ['linear', 'mlp2'] as const;

export interface ClassifierOptions {
  /** 64 is the standard network; smaller widths scale every layer down */
  width?: number;
  numClasses?: number;
  /** seeds the initial weights */
  generator?: Generator;
  device?: Device;
  /** [channels, height, width]: the simple networks' input size (default CIFAR's 3x32x32) */
  imageShape?: readonly [number, number, number];
}

export function isClassifierName(name: string): name is ClassifierName {
  return (CLASSIFIERS as readonly string[]).includes(name);
}

/**
 * Build a classifier by name. `name` is a string (it often comes from a checkpoint or a
 * flag); anything outside CLASSIFIERS is an error that lists the valid names.
 */
export function createClassifier(name: ClassifierName | (string & {}), opts: ClassifierOptions = {}): Module {
  const width = opts.width ?? 64;
  if (!Number.isInteger(width) || width < 1) throw new Error(`classifier width must be a positive integer, got ${opts.width}`);
  const c = { ...opts, width };
  switch (name) {
    case 'resnet18':
      return resnet18(c);
    case 'resnet34':
      return resnet34(c);
    case 'resnet50':
      return resnet50(c);
    case 'vgg16':
      return vgg16(c);
    case 'vgg19':
      return vgg19(c);
    case 'densenet121':
      return densenet121(c);
    case 'linear':
      return new LinearNet(c);
    case 'mlp2':
      return new TwoLayerNet(c);
    default:
      throw new Error(`unknown classifier "${name}" (choose one of ${CLASSIFIERS.join(', ')}; ${SIMPLE_NETWORKS.join(', ')} for detection)`);
  }
}
