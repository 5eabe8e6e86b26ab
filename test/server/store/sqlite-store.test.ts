import { join } from "node:path";
import test from "ava";
import { SqliteStore } from "../../../src/server/store/sqlite-store.js";
import { tempDir } from "../../helpers/temp.js";
import {
  type StoreFactory,
  storeConformance,
  storeReplaceNameConformance,
  storeSnapshotConformance,
} from "./conformance.js";

const sqlite: StoreFactory = {
  name: "sqlite",
  newPath: (t) => join(tempDir(t), "data.db"),
  open: (path) => SqliteStore.open(path),
};
storeConformance(test, sqlite);
storeSnapshotConformance(test, sqlite);
storeReplaceNameConformance(test, sqlite);
