import { join } from "node:path";
import test from "ava";
import { SqliteStore } from "../../../src/server/store/sqlite-store.js";
import { tempDir } from "../../helpers/temp.js";
import { storeConformance } from "./conformance.js";

storeConformance(test, {
  name: "sqlite",
  newPath: (t) => join(tempDir(t), "data.db"),
  open: (path) => SqliteStore.open(path),
});
