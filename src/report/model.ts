// The report's model: what build.ts assembles and page.ts renders (HTML, Markdown). Its own file
// so that the renderer imports the types without importing the builder that imports it.
import type { ImageFigure } from './figures.js';

export interface TableCell {
  /** our number ('–' when missing) */
  ours: string;
  /** the paper's number beside it, when there is one */
  paper?: string;
  /** hover text: seeds, spread, cells */
  title?: string;
  /** the cell has our number */
  has?: boolean;
  /** the best qualified defence of its column (bold, as in the paper) */
  best?: boolean;
  /** the second-best qualified defence of its column (italic) */
  second?: boolean;
  /** a mark after the number (Table 1: "≈" where the best's and the second's ranges overlap) */
  mark?: string;
}

export interface ReportTable {
  id: string;
  title: string;
  columns: string[];
  rows: { head: string; cells: TableCell[] }[];
  notes: string[];
}

export interface Plot {
  id: string;
  title: string;
  caption: string;
  svg: string;
}

export interface Section {
  id: string;
  title: string;
  intro: string[];
  tables: ReportTable[];
  plots: Plot[];
  figures: ImageFigure[];
}

export interface ReportModel {
  title: string;
  summary: string[];
  sections: Section[];
  footnotes: string[];
  csv: string;
}
