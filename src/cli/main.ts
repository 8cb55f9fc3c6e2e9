console.log("main ok", process.argv.slice(2));
